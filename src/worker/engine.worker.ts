// The engine's home in the browser: a module Web Worker that owns the data, the tfjs backend and
// the current run (a RunSession, src/run/session.ts). It adapts the typed messages of protocol.ts
// to those; backend choice is in backendChoice.ts, requests about a run in runRequests.ts.
import * as tf from '@tensorflow/tfjs';
import { benchTrainingSteps } from '../engine/bench';
import { wasmSgemm } from '../engine/benchSgemm';
import { ConfigError, MULTI_LAYER, resolveConfig, resolveGuidanceTarget, type SaeConfig } from '../engine/config';
import { limitsOfBackend, refusal } from '../engine/memoryBudget';
import { Trainer } from '../engine/trainer';
import { makeSyntheticDataset } from '../data/synthetic';
import { trainingDataFor } from '../data/trainingData';
import { Workspace, isStreamed } from '../data/workspace';
import { datasetFiles, extractFromText, languageModelInfo } from '../data/languageModel';
import { clearAutosave, fingerprint, fingerprintMismatch, readAutosave, writeAutosave, type SavedRun } from '../run/autosave';
import { RunSession, type AutosaveStore } from '../run/session';
import { abortCalibration, autoBackend, autoChooses, currentBackend, init, initialised, rememberCalibrations, setPreference } from './backendChoice';
import { describe } from './datasetInfo';
import { fail, isAbort, post, toBuffers, yieldToMailbox } from './port';
import type { ToWorker } from './protocol';
import { browseFeatures, evaluateImported, exportCheckpoint, exportDashboards, exportRun, exportRunContexts, importedFor, inspectLatent, memoryReport, sendLatentContexts, spliceEvaluate } from './runRequests';

const workspace = new Workspace();
let run: RunSession | null = null;

/**
 * Time budget of one uninterrupted slice of training before the worker posts progress and reads
 * its mailbox. A slice is at least one step; at ≥ 20 steps/s each slice is one step, so a slider
 * moved while the page shows step s is used from step s + 1 on.
 */
const SLICE_MS = 50;

/** The run's autosave lives in this browser's IndexedDB and belongs to the loaded data. */
const autosaveStore: AutosaveStore = { write: writeAutosave, clear: clearAutosave, fingerprint: loadedFingerprint };

/** A run stopped before it began (while its backends were measured). */
function stoppedBeforeStart(runId: string) {
  post({ type: 'status', runId, state: 'stopped', step: 0, totalSteps: 0, message: 'stopped while measuring the backends; nothing was trained' });
}

/**
 * A run's config resolved on the loaded data. A run too large for the backend is refused here,
 * before anything is allocated.
 */
function runConfig(input: Record<string, unknown>): SaeConfig {
  const ds = workspace.dataset;
  if (!ds) throw new Error('no data is loaded; load the sample or drop an activation file first.');
  const cfg = resolveConfig(input, ds.dIn, ds.nLayers);
  const tooBig = refusal(cfg, ds.dIn, limitsOfBackend(currentBackend(), tf.backend(), tf.env()));
  if (tooBig) throw new Error(tooBig);
  return cfg;
}

/** The training data of a run, its progress posted under the run's id. */
function runData(runId: string, cfg: SaeConfig) {
  return trainingDataFor(workspace, cfg, { onProgress: (label, done, total) => post({ type: 'progress', requestId: runId, label, done, total }) });
}

/** The loaded activations' fingerprint (what an autosave must match). */
function loadedFingerprint() {
  const ds = workspace.dataset;
  return ds ? fingerprint({ name: ds.name, rows: ds.rows, dIn: ds.dIn, nLayers: ds.nLayers, data: isStreamed(ds) ? undefined : ds.data }) : null;
}

/**
 * A trainer for a new run on the loaded data, after the old run is dropped and (auto) the backend
 * for this size chosen. Everything that can fail on the user's input is checked before the old run
 * is dropped.
 */
async function newTrainer(runId: string, cfg: SaeConfig, setUp: (t: Trainer) => void): Promise<Trainer> {
  const data = await runData(runId, cfg);
  await dropRun();
  if (autoChooses()) await autoBackend(runId, cfg, data);
  const trainer = new Trainer(cfg, data, currentBackend());
  try { setUp(trainer); } catch (e) { trainer.dispose(); throw e; }
  return trainer;
}

async function start(runId: string, input: Record<string, unknown>, fromImported = false, lmEvalEvery = 0, spliceSite?: number, untrained = false) {
  const cfg = runConfig(input);
  const guidance = workspace.resolveGuidance(cfg.guidance);
  const imported = fromImported ? importedFor(workspace, cfg) : null;
  const trainer = await newTrainer(runId, cfg, (t) => {
    if (imported) t.loadTensors(imported.tensors);
    if (guidance.length) t.setGuidance(guidance);
  });
  // A new run replaces the autosave of the previous one.
  await clearAutosave();
  begin(runId, trainer, { lmEvalEvery, spliceSite, fromImported: Boolean(imported) }, undefined, untrained && Boolean(imported));
}

/** Continue the autosaved run on the loaded data (after a reload or a restarted worker). */
async function resumeAutosave(runId: string) {
  const saved: SavedRun | null = await readAutosave();
  if (!saved) throw new Error('there is no autosaved run to resume.');
  const why = fingerprintMismatch(saved.dataset, loadedFingerprint());
  if (why) throw new Error(`${why}.`);
  const cfg = runConfig(saved.config as unknown as Record<string, unknown>);
  const guidance = workspace.resolveGuidance(saved.state.meta.guidance);
  const trainer = await newTrainer(runId, cfg, (t) => t.restore(saved.state, { guidance }));
  begin(runId, trainer, {
    lmEvalEvery: saved.lmEvalEvery, nextLmEval: saved.nextLmEval, fromImported: saved.fromImported,
    resumed: { log: saved.log, savedRows: saved.log.length, savedPieces: saved.logPieces },
  }, trainer.stepCount);
}

/** Stop the current run (if any) and free its trainer. */
async function dropRun() {
  const old = run;
  run = null;
  await old?.dispose();
}

/** Make a session of `trainer` the current run and start its loop; its reports go to the page. */
function begin(runId: string, trainer: Trainer, opts: Pick<ConstructorParameters<typeof RunSession>[0], 'lmEvalEvery' | 'nextLmEval' | 'spliceSite' | 'fromImported' | 'resumed'>, resumedFrom?: number, untrained = false) {
  const session = new RunSession({
    ...opts,
    id: runId,
    trainer,
    workspace,
    sliceMs: SLICE_MS,
    yieldBetweenSlices: yieldToMailbox,
    autosave: autosaveStore,
    events: {
      metrics: (rows, events) => post({ type: 'metrics', runId, rows, events }),
      status: (s) => post({ type: 'status', runId, ...s }),
      rolledBack: (step) => post({ type: 'rolledBack', runId, step }),
      error: (message, hint) => post({ type: 'error', runId, message, hint }),
      spliced: (evaluation, step) => post({ type: 'spliced', runId, evaluation, step }),
      evaluated: (metrics) => post({ type: 'evaluated', runId, metrics, outcome: session.outcome() ?? undefined }),
    },
  });
  run = session;
  post({ type: 'started', runId, config: trainer.cfg, live: trainer.liveParams, resumedFrom });
  if (untrained) void session.finishUntrained().catch((e) => fail(e, { runId }));
  else session.start();
}

async function handle(msg: ToWorker) {
  switch (msg.type) {
    case 'init':
      rememberCalibrations(msg.calibrations ?? []);
      return init(msg.prefer, msg.threads);
    case 'setBackend':
      await initialised;
      try { return await setPreference(msg.preference, run !== null && (run.state === 'running' || run.state === 'paused')); } catch (e) { return fail(e, {}); }
    case 'loadSample': {
      workspace.setDataset(makeSyntheticDataset());
      return post({ type: 'loaded', requestId: msg.requestId, info: describe(workspace), results: [], lm: languageModelInfo(workspace) });
    }
    case 'load': {
      try {
        // Each file's failure is reported in its result and changes nothing already loaded.
        const { results, sae } = await workspace.loadFiles(msg.files, {
          memoryBudgetBytes: msg.memoryBudgetBytes,
          onProgress: (label, done, total) => post({ type: 'progress', requestId: msg.requestId, label, done, total }),
        });
        const ds = workspace.dataset;
        const saeInfo = sae && workspace.imported ? { ...sae.info, config: resolveConfig(sae.configInput, sae.info.dIn, Math.max(ds?.nLayers ?? 1, MULTI_LAYER.includes(String(sae.configInput.architecture) as never) ? 2 : 1)) } : undefined;
        return post({ type: 'loaded', requestId: msg.requestId, info: describe(workspace), results, sae: saeInfo, lm: languageModelInfo(workspace) });
      } catch (e) {
        return fail(e, { requestId: msg.requestId }, 'The data already loaded is unchanged.');
      }
    }
    case 'extract': {
      try {
        const result = await extractFromText(workspace, {
          text: msg.text, sites: msg.sites, includeBos: msg.includeBos,
          onProgress: (done, total) => post({ type: 'progress', requestId: msg.requestId, label: `running the language model over ${msg.text}`, done, total }),
        });
        return post({ type: 'loaded', requestId: msg.requestId, info: describe(workspace), results: [result], lm: languageModelInfo(workspace) });
      } catch (e) {
        return fail(e, { requestId: msg.requestId }, 'The data already loaded is unchanged.');
      }
    }
    case 'spliceEvaluate':
      try { return await spliceEvaluate(workspace, run, msg); } catch (e) { return fail(e, { runId: msg.runId }); }
    case 'exportDataset':
      try {
        const buffers = toBuffers(datasetFiles(workspace));
        return post({ type: 'datasetExported', requestId: msg.requestId, files: buffers }, Object.values(buffers));
      } catch (e) {
        return fail(e, { requestId: msg.requestId });
      }
    case 'evaluateImported':
      try { return await evaluateImported(workspace, msg.runId, msg.split); } catch (e) { return fail(e, { runId: msg.runId }); }
    case 'previewLabels': {
      try {
        return post({ type: 'labelsPreview', requestId: msg.requestId, ...workspace.previewLabels(msg.labels) });
      } catch (e) {
        return post({ type: 'labelsPreview', requestId: msg.requestId, rows: 0, positives: 0, examples: [], error: e instanceof Error ? e.message : String(e) });
      }
    }
    case 'bench':
      try {
        if (!(await tf.setBackend(msg.backend))) throw new Error(`backend ${msg.backend} failed to initialise`);
        await tf.ready();
        return post({ type: 'benchResult', requestId: msg.requestId, result: await benchTrainingSteps(msg.spec) });
      } catch (e) {
        return post({ type: 'benchResult', requestId: msg.requestId, error: e instanceof Error ? e.message : String(e) });
      } finally {
        await tf.setBackend(currentBackend());
      }
    case 'benchSgemm':
      try {
        return post({ type: 'benchSgemmResult', requestId: msg.requestId, rows: await wasmSgemm(msg.shapes) });
      } catch (e) {
        return post({ type: 'benchSgemmResult', requestId: msg.requestId, error: e instanceof Error ? e.message : String(e) });
      }
    case 'resumeAutosave':
      await initialised;
      try {
        return await resumeAutosave(msg.runId);
      } catch (e) {
        if (isAbort(e)) return stoppedBeforeStart(msg.runId);
        return fail(e, { runId: msg.runId }, 'The autosave is kept; load the data it was trained on, then Resume.');
      }
    case 'ping':
      return post({ type: 'pong', memory: memoryReport() });
    case 'debugCrash':
      return; // handled in onmessage
    case 'start':
      await initialised;
      try {
        return await start(msg.runId, msg.config as Record<string, unknown>, msg.fromImported, msg.lmEvalEvery, msg.spliceSite, msg.untrained);
      } catch (e) {
        if (isAbort(e)) return stoppedBeforeStart(msg.runId);
        return fail(e, { runId: msg.runId }, e instanceof ConfigError ? 'Fix the highlighted setting and press Train again.' : undefined);
      }
    default: {
      if (!run || run.id !== msg.runId) {
        // Stopped while its backends are being measured: the run is not started.
        if (msg.type === 'stop') abortCalibration(msg.runId);
        return; // else a late message for an old run
      }
      const r = run;
      switch (msg.type) {
        case 'update':
          r.trainer.update(msg.live);
          return;
        case 'guidance':
          try {
            const targets = msg.targets.map((t, i) => resolveGuidanceTarget(t, i, r.trainer.cfg.d_sae));
            // A guided step is dense (trainStep.ts): a run sized for its sparse step may not fit it.
            if (targets.length) {
              const tooBig = refusal({ ...r.trainer.cfg, guidance: targets }, r.trainer.data.dIn, limitsOfBackend(currentBackend(), tf.backend(), tf.env()));
              if (tooBig) throw new Error(`with a guidance target every step is dense: ${tooBig}`);
            }
            r.trainer.setGuidance(workspace.resolveGuidance(targets));
          } catch (e) {
            fail(e, { runId: r.id }, 'The guidance targets in effect are unchanged.');
          }
          return;
        case 'exportCheckpoint':
          try { return exportCheckpoint(r, msg.step); } catch (e) { return fail(e, { runId: r.id }); }
        case 'features':
          try { return await browseFeatures(workspace, r); } catch (e) { return fail(e, { runId: r.id }); }
        case 'latent':
          try { return await inspectLatent(workspace, r, msg.latent); } catch (e) { return fail(e, { runId: r.id }); }
        case 'exportContexts':
          try { return await exportRunContexts(workspace, r); } catch (e) { return fail(e, { runId: r.id }); }
        case 'exportDashboard':
          try { return await exportDashboards(workspace, r, msg.latents); } catch (e) { return fail(e, { runId: r.id }); }
        case 'latentContexts':
          return sendLatentContexts(workspace, r, msg.latents);
        case 'pause':
          // Reports 'paused' only once the loop has stopped, so no metrics arrive after it.
          return r.pause();
        case 'resume':
          return r.resume();
        case 'stop':
          return r.stop();
        case 'export':
          try { return await exportRun(r); } catch (e) { return fail(e, { runId: r.id }); }
      }
    }
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  // For tests: an exception nothing catches, as a bug would throw (the page hears it as the worker's error event).
  if (ev.data.type === 'debugCrash') { setTimeout(() => { throw new Error('a deliberate crash (debugCrash)'); }); return; }
  handle(ev.data).catch((e) => fail(e, {}));
};

// A promise nobody awaited that failed: say so instead of failing silently.
self.addEventListener('unhandledrejection', (ev: PromiseRejectionEvent) => {
  ev.preventDefault();
  fail(ev.reason, {});
});
