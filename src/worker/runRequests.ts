// What the page asks of a run (or of the imported SAE) besides training: the feature browser's
// pass and one latent's detail, context and dashboard exports, splicing into the language model,
// evaluation and the SAELens export. Each reads the weights between training slices.
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '../engine/config';
import { exportContexts, featureOverview, latentContexts, latentDetail, type FeatureOverview } from '../data/features';
import { neuronpediaDashboards } from '../data/dashboard';
import { evaluateWeightsWithModel, evaluateWithModel, lmModel } from '../data/languageModel';
import { siteOfHook } from '../data/sites';
import { evaluateWeights } from '../data/trainingData';
import type { Workspace } from '../data/workspace';
import { zipFiles } from '../io/saelens';
import type { RunSession } from '../run/session';
import { currentBackend } from './backendChoice';
import { post, toBuffers } from './port';
import type { EngineMemory, ToWorker, ValidationSplit } from './protocol';
import { wasmMemoryBytes } from '../engine/ops/wasm/kernelModule';

/** The feature browser's pass over the data (top rows per latent) of each run, and the step it was made at. */
const featurePasses = new WeakMap<RunSession, { overview: FeatureOverview; step: number }>();

/** The imported SAE, checked against a config resolved on the loaded data. */
export function importedFor(workspace: Workspace, cfg: { d_sae: number; architecture: string }) {
  const imported = workspace.imported;
  if (!imported) throw new Error('no SAE is imported; drop a SAELens directory (cfg.json + sae_weights.safetensors) or its zip first.');
  const ds = workspace.dataset!;
  if (imported.info.dIn !== ds.dIn) throw new Error(`the imported SAE takes d_in = ${imported.info.dIn} but the loaded activations have width ${ds.dIn}; load activations of the layer it was trained on.`);
  if (cfg.d_sae !== imported.info.dSae) throw new Error(`the imported SAE has d_sae ${imported.info.dSae} but the config asks for ${cfg.d_sae}; keep the imported size to continue training it.`);
  return imported;
}

/** Evaluate the imported SAE on the loaded data's validation split. */
export async function evaluateImported(workspace: Workspace, runId: string, split?: ValidationSplit) {
  const ds = workspace.dataset;
  const imported = workspace.imported;
  if (!ds || !imported) throw new Error(!ds ? 'load activations to evaluate the imported SAE on.' : 'no SAE is imported.');
  const cfg = resolveConfig({ ...imported.configInput, ...split }, ds.dIn, ds.nLayers);
  importedFor(workspace, cfg);
  post({ type: 'evaluated', runId, metrics: await evaluateWeights(workspace, cfg, imported.tensors, currentBackend()) });
}

/** Splice the run's SAE (between training slices) or the imported one into the language model. */
export async function spliceEvaluate(workspace: Workspace, run: RunSession | null, msg: Extract<ToWorker, { type: 'spliceEvaluate' }>) {
  // No progress messages: the button says the model is running, and a pass takes seconds.
  const req = { site: msg.site, text: msg.text };
  if (msg.source === 'imported') {
    const ds = workspace.dataset;
    const imported = workspace.imported;
    if (!ds || !imported) throw new Error(!ds ? 'load activations (or extract them from text) before evaluating the imported SAE.' : 'no SAE is imported.');
    const cfg = resolveConfig({ ...imported.configInput, ...msg.split }, ds.dIn, ds.nLayers);
    importedFor(workspace, cfg);
    const hook = siteOfHook(imported.info.cfg.hook_name);
    const recorded = { recordedSites: hook === undefined ? undefined : [hook], recordedBy: "its cfg.json's hook_name" };
    return post({ type: 'spliced', runId: msg.runId, evaluation: await evaluateWeightsWithModel(workspace, cfg, imported.tensors, currentBackend(), { ...req, ...recorded }) });
  }
  const r = run;
  if (!r || r.id !== msg.runId) throw new Error('that run is gone; train again, then evaluate.');
  const evaluation = await r.holding(() => evaluateWithModel(workspace, r.trainer, { ...req, ...r.recordedSites() }));
  post({ type: 'spliced', runId: r.id, evaluation });
}

export async function browseFeatures(workspace: Workspace, r: RunSession) {
  const ov = await r.holding(() => featureOverview(workspace, r.trainer));
  featurePasses.set(r, { overview: ov, step: r.trainer.stepCount });
  const { density, maxActivation, meanActivation, densityHistogram, dead, dense, rows } = ov;
  post({ type: 'features', runId: r.id, features: { rows, density, maxActivation, meanActivation, densityHistogram, dead, dense } });
}

/** The feature pass of the current weights (made again, and re-sent, when training moved on). */
async function currentFeatures(workspace: Workspace, r: RunSession): Promise<FeatureOverview> {
  const pass = featurePasses.get(r);
  if (!pass || pass.step !== r.trainer.stepCount) await browseFeatures(workspace, r);
  return featurePasses.get(r)!.overview;
}

/** The logit lens of a decoder direction, when a language model of the activations' width is loaded. */
function directionLogits(workspace: Workspace): ((dir: Float32Array) => Promise<Float32Array>) | undefined {
  const model = workspace.lm && workspace.dataset && workspace.lm.checkpoint.config.dim === workspace.dataset.dIn ? lmModel(workspace) : null;
  return model ? (dir) => model.directionLogits(dir) : undefined;
}

export async function inspectLatent(workspace: Workspace, r: RunSession, latent: number) {
  const overview = await currentFeatures(workspace, r);
  const logits = directionLogits(workspace);
  const detail = await r.holding(() => latentDetail(workspace, r.trainer, overview, latent, { logits }));
  post({ type: 'latent', runId: r.id, detail });
}

export async function exportRunContexts(workspace: Workspace, r: RunSession) {
  const overview = await currentFeatures(workspace, r);
  const json = await r.holding(() => exportContexts(workspace, r.trainer, overview));
  const files = toBuffers({ 'contexts.json': new TextEncoder().encode(JSON.stringify(json)) });
  post({ type: 'contextsExported', runId: r.id, files }, Object.values(files));
}

export async function exportDashboards(workspace: Workspace, r: RunSession, latents: number[]) {
  const overview = await currentFeatures(workspace, r);
  const logits = directionLogits(workspace);
  const json = await r.holding(() => neuronpediaDashboards(workspace, r.trainer, overview, latents, { logits }));
  const name = latents.length === 1 ? `neuronpedia_feature_${latents[0]}.json` : 'neuronpedia_features.json';
  const files = toBuffers({ [name]: new TextEncoder().encode(JSON.stringify(json)) });
  post({ type: 'dashboardExported', runId: r.id, files }, Object.values(files));
}

export async function sendLatentContexts(workspace: Workspace, r: RunSession, latents: number[]) {
  try {
    const overview = await currentFeatures(workspace, r);
    post({ type: 'latentContexts', runId: r.id, contexts: await r.holding(() => latentContexts(workspace, r.trainer, overview, latents)) });
  } catch (e) {
    post({ type: 'latentContexts', runId: r.id, contexts: {}, error: e instanceof Error ? e.message : String(e) });
  }
}

export async function exportRun(r: RunSession) {
  const files = toBuffers(await r.exportFiles());
  post({ type: 'exported', runId: r.id, files }, Object.values(files));
}

export function exportCheckpoint(r: RunSession, step: number) {
  const files = toBuffers({ [`checkpoint_step_${step}.zip`]: zipFiles(r.checkpointFiles(r.checkpointAt(step))) });
  post({ type: 'checkpointExported', runId: r.id, step, files }, Object.values(files));
}

/** Memory in use by tfjs (tests watch it for leaks). */
export function memoryReport(): EngineMemory {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return { numTensors: m.numTensors, numBytes: m.numBytes, numBytesInGPU: m.numBytesInGPU, wasmMemoryBytes: wasmMemoryBytes() };
}
