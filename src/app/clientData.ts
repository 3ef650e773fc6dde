// The page's data requests to the engine worker (files, sample, text, label previews) and their replies.
// A load may fail in part: the answer lists each file's outcome, and the store keeps the latest
// outcome per file so that the Data panel can offer array choices and raw-shape forms. Every data
// message is kept, so that a restarted worker gets the same data (src/app/clientEngine.ts).
//
import type { ConfigInput } from '../engine/config';
import type { FileOptions, SourceFile } from '../data/types';
import { saeModelMatch } from '../data/sites';
import { INNER_HOOKS } from '../engine/lm/hooks';
import { runDataKey, runDataOf } from '../store/runHistory';
import { NO_SPLICE, appendLog, formFromConfig, labelSource, staleRun, useStore, type GuidanceDraft } from '../store/store';
import { newId, send } from './clientLink';
import type { FromWorker, ToWorker } from '../worker/protocol';

/** File loads in flight: request id → file name. */
const pendingLoads = new Map<string, string>();
/** Label previews in flight: request id → guidance target id. */
const pendingPreviews = new Map<string, string>();
/** Files of the latest drops by name, so one can be re-read with options (array, raw shape). */
const droppedFiles = new Map<string, File>();
/** Messages that built the worker's data, in order: replayed into a restarted worker. */
export const dataMessages: ((requestId: string) => ToWorker)[] = [];

function settleLoad(requestId: string) {
  pendingLoads.delete(requestId);
  if (pendingLoads.size === 0) useStore.setState({ dataLoading: null, loadProgress: null });
  else useStore.setState({ dataLoading: `Reading ${[...pendingLoads.values()].join(', ')}…` });
}

function onLoaded(msg: Extract<FromWorker, { type: 'loaded' }>) {
  const s = useStore.getState();
  const info = msg.info;
  const prev = s.dataset;
  const patch: Partial<typeof s> = {};
  if (info) {
    patch.dataset = info;
    // Layer choices are per file: fall back to the defaults of a new file.
    if (!prev || prev.nLayers !== info.nLayers || prev.name !== info.name) patch.form = { ...s.form, layer: null, layer_start: null, layer_end: null };
  }
  const errors = msg.results.filter((r) => r.kind === 'error');
  if (errors.length) {
    patch.dataError = {
      message: errors.map((r) => r.message).join(' · '),
      hint: info ? 'Everything loaded before is unchanged.' : 'Nothing was loaded.',
    };
  }
  // The latest result per file: the Data panel offers array choices and raw-shape forms from them.
  const byName = new Map(s.fileResults.map((r) => [r.name, r]));
  for (const r of msg.results) {
    // A multi-array file reports its activations (with the array choices) and its companions under
    // one name: the result carrying the choices wins.
    const prev = byName.get(r.name);
    if (prev?.choices && !r.choices && msg.results.includes(prev)) continue;
    byName.set(r.name, r);
  }
  patch.fileResults = [...byName.values()].filter((r) => r.kind === 'needs_shape' || (r.choices && r.choices.length > 1) || r.kind === 'error').slice(-12);
  for (const r of msg.results) {
    if (r.kind === 'run_config' && r.config) {
      const { form, guidance } = formFromConfig(r.config as ConfigInput);
      patch.form = { ...(patch.form ?? s.form), ...form };
      if (guidance.length) patch.guidance = guidance;
    }
  }
  if (msg.sae) {
    patch.imported = msg.sae;
    patch.importEvaluation = null;
    patch.importSplice = NO_SPLICE;
  }
  if (msg.lm !== undefined) {
    patch.lm = msg.lm;
    const n = msg.lm?.model?.nLayers;
    // Default extraction site: the middle of the model, as most SAE papers pick.
    if (n !== undefined && (s.lmSites.length === 0 || s.lmSites.some((x) => x > n))) patch.lmSites = [Math.floor(n / 2)];
    if (n !== undefined && s.spliceSite !== null && s.spliceSite > n) patch.spliceSite = null;
  }
  // An imported SAE whose cfg.json names a hook of the loaded model chooses where to extract.
  const model = (patch.lm ?? s.lm)?.model;
  const sae = patch.imported ?? s.imported;
  if ((msg.sae || msg.lm?.model) && model && sae) {
    const site = saeModelMatch(sae.cfg, sae.dIn, model).site;
    if (site !== undefined) {
      const layer = Math.floor(site);
      const inner = (Object.keys(INNER_HOOKS) as (keyof typeof INNER_HOOKS)[]).find((h) => INNER_HOOKS[h] === site - layer);
      patch.lmSites = [layer];
      patch.lmHook = inner ?? 'hook_resid_pre';
    }
  }
  // Activations from text come with document ids: validate on whole documents, so that the
  // held-out documents can judge the SAE through the model.
  if (info && msg.lm?.datasetText && msg.results.some((r) => r.kind === 'activations')) {
    patch.form = { ...(patch.form ?? s.form), split_by: 'document' };
  }
  useStore.setState(patch);
  settleLoad(msg.requestId);
  for (const r of msg.results) appendLog(r.kind === 'error' ? `error: ${r.message}` : r.message);
  if (!msg.results.length && info) appendLog(`loaded ${info.name}: ${info.nLayers > 1 ? `${info.rows.toLocaleString('en-US')} × ${info.nLayers} layers × ${info.dIn}` : `${info.rows.toLocaleString('en-US')} × ${info.dIn}`}`);
  // Said once, when other data arrives (not when a companion file joins the same data).
  const newData = info && (!prev || runDataKey(runDataOf(prev)) !== runDataKey(runDataOf(info)));
  const stale = newData ? staleRun(useStore.getState()) : null;
  if (stale) {
    const active = s.runState === 'running' || s.runState === 'paused';
    appendLog(active
      ? `the run continues on its own data (${stale.runData}); ${stale.loaded} is for the next run`
      : `the results shown are of the last run, trained on ${stale.runData}, not on the loaded ${stale.loaded}`);
  }
}

/** The worker's answers to data requests. */
export function onDataReply(msg: Extract<FromWorker, { type: 'loaded' | 'progress' | 'labelsPreview' }>) {
  switch (msg.type) {
    case 'loaded':
      return onLoaded(msg);
    case 'progress':
      useStore.setState({ loadProgress: { label: msg.label, done: msg.done, total: msg.total } });
      return;
    case 'labelsPreview': {
      const id = pendingPreviews.get(msg.requestId);
      pendingPreviews.delete(msg.requestId);
      if (!id) return;
      const preview = msg.error
        ? { pending: false, error: msg.error }
        : {
          pending: false,
          text: `${msg.positives.toLocaleString('en-US')} of ${msg.rows.toLocaleString('en-US')} rows positive (${msg.rows ? ((100 * msg.positives) / msg.rows).toFixed(1) : '0'}%)`
            + (msg.examples.length ? ` e.g. ${msg.examples.slice(0, 5).map((e) => `'${e}'`).join(', ')}…` : ''),
        };
      useStore.setState((st) => ({ previews: { ...st.previews, [id]: preview } }));
      return;
    }
  }
}

/** An error answering a request (a load, an extraction): the Data panel says it. False when it is not one. */
export function onLoadError(msg: Extract<FromWorker, { type: 'error' }>): boolean {
  if (!msg.requestId) return false;
  const name = pendingLoads.get(msg.requestId);
  const message = name ? `${name}: ${msg.message}` : msg.message;
  const before = useStore.getState().dataError;
  useStore.setState({ dataError: before ? { message: `${before.message} · ${message}`, hint: msg.hint ?? before.hint } : { message, hint: msg.hint } });
  settleLoad(msg.requestId);
  return true;
}

export function loadSample() {
  useStore.setState({ dataLoading: 'Loading sample…', dataError: null });
  dataMessages.push((requestId) => ({ type: 'loadSample', requestId }));
  send({ type: 'loadSample', requestId: newId('sample') });
}

/**
 * Load one or several dropped files. The worker recognises each by content (activations,
 * companions, a run config, a SAELens directory or zip) and applies activations first.
 */
export function loadFiles(list: Iterable<File>, options: Record<string, FileOptions> = {}) {
  const files = [...list];
  if (!files.length) return;
  for (const f of files) droppedFiles.set(f.name, f);
  const requestId = newId('load');
  pendingLoads.set(requestId, files.map((f) => f.name).join(', '));
  const { memoryBudgetMiB } = useStore.getState();
  useStore.setState({ dataLoading: `Reading ${files.map((f) => f.name).join(', ')}…`, dataError: null, loadProgress: null });
  const sources: SourceFile[] = files.map((f) => ({ name: f.name, blob: f, options: options[f.name] }));
  const memoryBudgetBytes = Math.round(memoryBudgetMiB * 2 ** 20);
  dataMessages.push((id) => ({ type: 'load', requestId: id, files: sources, memoryBudgetBytes }));
  send({ type: 'load', requestId, files: sources, memoryBudgetBytes });
}

/** Read a dropped file again with options: which array of an .npz / .safetensors, a raw file's shape. */
export function reloadFile(name: string, options: FileOptions) {
  const file = droppedFiles.get(name);
  if (!file) return;
  useStore.setState((s) => ({ fileResults: s.fileResults.filter((r) => r.name !== name) }));
  loadFiles([file], { [name]: options });
}

/** One file (kept for callers of the single-file API). */
export const loadFile = (file: File) => loadFiles([file]);

/** Run the language model over a loaded text and use its residuals as the dataset. */
export function extractActivations(text: string) {
  const { lmSites, lmHook, lmIncludeBos } = useStore.getState();
  const requestId = newId('extract');
  pendingLoads.set(requestId, text);
  useStore.setState({ dataLoading: `Running the model over ${text}…`, dataError: null, loadProgress: null });
  const offset = lmHook === 'hook_resid_pre' ? 0 : INNER_HOOKS[lmHook];
  const sites = [...lmSites].sort((a, b) => a - b).map((l) => l + offset);
  dataMessages.push((id) => ({ type: 'extract', requestId: id, text, sites, includeBos: lmIncludeBos }));
  send({ type: 'extract', requestId, text, sites, includeBos: lmIncludeBos });
}

export function previewLabels(draft: GuidanceDraft) {
  const requestId = newId('preview');
  pendingPreviews.set(requestId, draft.id);
  useStore.setState((s) => ({ previews: { ...s.previews, [draft.id]: { pending: true } } }));
  send({ type: 'previewLabels', requestId, labels: labelSource(draft) });
}
