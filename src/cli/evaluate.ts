// `sae-workbench eval`: an exported SAE measured on activations, or spliced into a language model
// over a text (CE, KL, loss recovered with standard errors).
import { MULTI_LAYER, resolveConfig, type SaeConfig } from '../engine/config';
import type { EvalMetrics } from '../engine/types';
import { evaluateWeightsWithModel } from '../data/languageModel';
import { FEW_PREDICTIONS, hookMismatch, siteOfHook } from '../data/sites';
import { evaluateWeights } from '../data/trainingData';
import { Workspace } from '../data/workspace';
import type { ImportedSae } from '../data/saeImport';
import { DATA_OPTIONS, sitesFlag, refuseUnused, requireModelFlags, UsageError, type Flags } from './flags';
import { checkOptionsAndBackend, extractToWorkspace, loadLanguageModel, loadWorkspace, named, readSaeDirectory, saeWork, startBackend } from './inputs';

/**
 * The SAE's config for evaluating it on data of one's own: a run split by documents is evaluated on
 * data without document ids by rows (the split only picks the rows a streamed file is measured on).
 */
function forEvaluation(input: Record<string, unknown>, workspace: Workspace): Record<string, unknown> {
  return input.split_by === 'document' && !workspace.docIds ? { ...input, split_by: 'rows' } : input;
}

/**
 * What an evaluation measured: the trainer's metrics without the training-only ones (steps,
 * throughput, early stopping), which an SAE that is only evaluated does not have.
 */
export function evaluationOutput(metrics: EvalMetrics): Omit<EvalMetrics, 'steps' | 'tokens_per_s' | 'early_stopped_at'> {
  const { steps: _steps, tokens_per_s: _tokensPerSecond, early_stopped_at: _earlyStoppedAt, ...measured } = metrics;
  return measured;
}

export async function evaluate(flags: Flags): Promise<number> {
  // Everything that does not need the activations is checked before they load.
  if (flags.lm) {
    requireModelFlags(flags);
    if (!flags.data) refuseUnused(flags, DATA_OPTIONS, 'without --data (they say how to read its file)');
  } else {
    if (!flags.data) throw new UsageError('missing --data (or --lm, --tokenizer and --text to splice into a model)');
    refuseUnused(flags, ['tokenizer', 'text', 'layer', 'hook'], 'without --lm');
  }
  await checkOptionsAndBackend(flags);
  if (flags.lm) return evaluateWithLanguageModel(flags);
  const sae = await readSaeDirectory(flags.sae);
  const workspace = await loadWorkspace(flags);
  const full = workspace.dataset!;
  if (sae.info.dIn !== full.dIn) {
    throw new Error(`the SAE ${flags.sae} expects d_in = ${sae.info.dIn} but ${full.name} has rows of width ${full.dIn}; evaluate it on activations from the same layer.`);
  }
  const cfg: SaeConfig = named(flags.sae, () => resolveConfig(forEvaluation(sae.configInput, workspace), full.dIn, full.nLayers));
  const { backend, adapter } = await startBackend(flags, saeWork(cfg, full.dIn, full.nLayers));
  // In memory: every row is evaluated. Streamed: the validation split (a sample of the file).
  const out = await evaluateWeights(workspace, cfg, sae.tensors, backend, { allRows: true });
  for (const note of sae.info.notes) process.stderr.write(`note: ${note}\n`);
  process.stdout.write(JSON.stringify({ ...evaluationOutput(out), ...(adapter ? { adapter } : {}) }) + '\n');
  return 0;
}

/** Layers per row of a multi-layer SAE (its layer_start…layer_end), 1 for the others. */
function nSaeLayers(sae: ImportedSae): number {
  if (!MULTI_LAYER.includes(String(sae.configInput.architecture) as never)) return 1;
  return Math.max(1, Number(sae.configInput.layer_end ?? 0) - Number(sae.configInput.layer_start ?? 0) + 1);
}

/** Splice an exported SAE into a llama2.c model over a text: CE, KL, loss recovered (+ reconstruction metrics). */
async function evaluateWithLanguageModel(flags: Flags): Promise<number> {
  const sae = await readSaeDirectory(flags.sae);
  const metadata = (sae.info.cfg ?? {}) as Record<string, unknown>;
  const hookSite = siteOfHook(metadata.hook_name);
  const given = sitesFlag(flags);
  const first = given?.[0] ?? hookSite;
  if (first === undefined) throw new UsageError(`--layer or --hook is needed: ${flags.sae}/cfg.json does not name a hook of the model (hook_name ${JSON.stringify(metadata.hook_name ?? null)})`);
  const { backend, adapter } = await startBackend(flags, saeWork(named(flags.sae, () => resolveConfig(sae.configInput, sae.info.dIn, nSaeLayers(sae))), sae.info.dIn, nSaeLayers(sae)));
  const { workspace, text } = await loadLanguageModel(flags, flags.data ? await loadWorkspace(flags) : new Workspace());
  const recorded = { recordedSites: hookSite === undefined ? undefined : [hookSite], recordedBy: `${flags.sae}/cfg.json's hook_name` };
  const mismatch = hookMismatch(hookSite, first, workspace.lm!.checkpoint.config.nLayers, recorded.recordedBy);
  if (mismatch) process.stderr.write(`warning: ${flags.hook ? `--hook ${flags.hook}` : `--layer ${first}`}: ${mismatch}\n`);
  const sites = Array.from({ length: nSaeLayers(sae) }, (_, i) => first + i);
  if (!flags.data) await extractToWorkspace(workspace, text, sites);
  const full = workspace.dataset!;
  if (sae.info.dIn !== full.dIn) throw new Error(`the SAE expects d_in = ${sae.info.dIn} but the activations have width ${full.dIn}; use the model the SAE was trained on.`);
  const input = flags.data ? sae.configInput : { ...sae.configInput, layer: 0, layer_start: 0, layer_end: sites.length - 1 };
  const cfg: SaeConfig = resolveConfig(forEvaluation(input, workspace), full.dIn, full.nLayers);
  const reconstruction = await evaluateWeights(workspace, cfg, sae.tensors, backend, { allRows: true });
  const splice = await evaluateWeightsWithModel(workspace, cfg, sae.tensors, backend, { site: first, text, maxTokens: Infinity, ...recorded });
  for (const note of sae.info.notes) process.stderr.write(`note: ${note}\n`);
  const se = (v: number) => (Number.isFinite(v) ? ` ± ${v.toPrecision(2)}` : ' (no standard error from one document)');
  process.stderr.write(`${splice.predictions.toLocaleString('en-US')} predictions in ${splice.documents.toLocaleString('en-US')} documents; ± is the standard error over documents${splice.predictions < FEW_PREDICTIONS ? ' (few predictions: loss recovered is noisy; give a longer --text)' : ''}\n`);
  for (const g of splice.groups) {
    process.stderr.write(`layer ${g.sites.join(', ')}: loss recovered ${g.loss_recovered.toFixed(4)}${se(g.loss_recovered_se)} (vs mean ablation ${g.loss_recovered_vs_mean.toFixed(4)}${se(g.loss_recovered_vs_mean_se)}), KL ${g.kl.toFixed(4)}, CE ${g.ce.toFixed(4)} — clean ${splice.ce_clean.toFixed(4)}, zero ${g.ce_zero.toFixed(4)}, mean ${g.ce_mean.toFixed(4)}\n`);
  }
  // The per-document sums behind the standard errors stay out of the output (one entry per document).
  const { per_document: _perDocument, ...report } = splice;
  process.stdout.write(JSON.stringify({ ...report, reconstruction: evaluationOutput(reconstruction), ...(adapter ? { adapter } : {}) }) + '\n');
  return 0;
}

