// The page's side of comparing runs: every finished run is kept (config, log, final metrics,
// weights — and loss recovered when its activations came from the loaded language model), and
// sweeps train one value of a hyper-parameter after another. Kept runs live in the store and in
// IndexedDB (src/store/runHistory.ts).
import { RunHistory, runLabel, summariseSplice, type RunRecord, type RunSweepTag } from '../store/runHistory';
import { appendLog, setForm, useStore, type AppState, type ModelForm } from '../store/store';
import { parseSweepValues, sweepParam } from '../store/sweep';
import { downloadFiles } from './download';
import { loadFiles, requestRunWeights, spliceEvaluate, stop, train } from './client';
import type { SpliceEvaluation } from '../data/languageModel';

const history = new RunHistory();
/** Runs already kept or being kept (a run is kept once). */
const handled = new Set<string>();
/** Sweep runs: run id → its place in the sweep. */
const sweepTags = new Map<string, RunSweepTag>();
/** Run id → resolvers waiting for it to be kept (the sweep waits on its runs). */
const keptWaiters = new Map<string, (kept: boolean) => void>();

/** How long to wait for a finished run's weights before keeping it without them. */
const WEIGHTS_TIMEOUT_MS = 120_000;

/** Load the runs of earlier sessions and keep every run that finishes from now on. */
export async function startRunHistory(): Promise<void> {
  const runs = await history.open();
  useStore.setState((s) => ({ runs: [...runs, ...s.runs.filter((r) => !runs.some((o) => o.id === r.id))], runsProblem: history.problem }));
  for (const r of runs) handled.add(r.id);
  useStore.subscribe(onChange);
}

function onChange(s: AppState, prev: AppState) {
  // The final evaluation arrives once a run has ended (done, stopped, or stopped early).
  if (s.evaluation && s.evaluation !== prev.evaluation && s.runId && (s.runState === 'done' || s.runState === 'stopped') && !handled.has(s.runId)) {
    void keep(s.runId);
  }
  // A splice evaluation made after the run was kept completes its record.
  if (s.splice.evaluation && s.splice.evaluation !== prev.splice.evaluation && s.runId) {
    const record = s.runs.find((r) => r.id === s.runId);
    if (record && !record.splice) void replaceRecord({ ...record, splice: summariseSplice(s.splice.evaluation) });
  }
}

/** Resolves with the value, or with `fallback` when the run is replaced or time runs out. */
function untilRunGone<T>(runId: string, work: Promise<T>, fallback: T, timeoutMs = WEIGHTS_TIMEOUT_MS): Promise<T> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: T) => { if (done) return; done = true; unsubscribe(); clearTimeout(timer); resolve(v); };
    const unsubscribe = useStore.subscribe((s) => { if (s.runId !== runId) finish(fallback); });
    const timer = setTimeout(() => finish(fallback), timeoutMs);
    work.then(finish, () => finish(fallback));
  });
}

/** The run's splice evaluation once it settles (null when it failed or the run was replaced). */
function settledSplice(runId: string): Promise<SpliceEvaluation | null> {
  return new Promise((resolve) => {
    const check = (s: AppState) => {
      if (s.runId !== runId) return resolve(null), true;
      if (!s.splice.pending) return resolve(s.splice.evaluation), true;
      return false;
    };
    if (check(useStore.getState())) return;
    const unsubscribe = useStore.subscribe((s) => { if (check(s)) unsubscribe(); });
  });
}

async function keep(runId: string) {
  handled.add(runId);
  const s = useStore.getState();
  // What the run's session (src/run/session.ts) reported at its end: config, state, metrics, log, data.
  const outcome = s.outcome;
  if (!outcome || outcome.runId !== runId) return;
  const { config, metrics, state, rows, data } = outcome;
  const number = s.runs.reduce((m, r) => Math.max(m, r.number), 0) + 1;
  const sweep = sweepTags.get(runId) ?? null;
  useStore.setState({ keeping: `Keeping run #${number}…` });
  // The latest figure: one asked for after the run, else the last one measured while it trained.
  let splice = s.splice.evaluation ? summariseSplice(s.splice.evaluation) : outcome.splice;
  // Activations extracted by the loaded model: loss recovered joins the final metrics.
  if (!splice && s.lm?.model && s.lm.datasetSites?.length) {
    useStore.setState({ keeping: `Keeping run #${number}: splicing it into the language model…` });
    spliceEvaluate('run');
    const e = await settledSplice(runId);
    if (e) splice = summariseSplice(e);
  }
  useStore.setState({ keeping: `Keeping run #${number}: reading its weights…` });
  const files = await untilRunGone(runId, requestRunWeights(runId), null);
  const record: RunRecord = {
    id: runId, number, createdAt: Date.now(), datasetName: data.name, data, config, state, metrics, splice, sweep, rows,
    weightBytes: files ? Object.values(files).reduce((a, b) => a + b.byteLength, 0) : 0,
  };
  // Listed once stored, so a run on the list survives a reload.
  const problem = await history.save(record, files);
  useStore.setState((st) => ({ runs: [...st.runs, record], keeping: null, ...(problem ? { runsProblem: problem } : {}) }));
  appendLog(`kept run ${runLabel(record)}${files ? '' : ' (without weights: the run was replaced before they were read)'}`);
  keptWaiters.get(runId)?.(true);
  keptWaiters.delete(runId);
}

async function replaceRecord(record: RunRecord) {
  useStore.setState((s) => ({ runs: s.runs.map((r) => (r.id === record.id ? record : r)) }));
  await history.update(record);
}

export async function deleteRun(id: string) {
  try { await history.delete(id); } catch (e) { appendLog(`could not delete the stored run: ${e instanceof Error ? e.message : String(e)}`); }
  useStore.setState((s) => ({ runs: s.runs.filter((r) => r.id !== id), overlay: s.overlay.filter((o) => o !== id) }));
}

export async function clearRuns() {
  try { await history.clear(); } catch (e) { appendLog(`could not delete the stored runs: ${e instanceof Error ? e.message : String(e)}`); }
  useStore.setState({ runs: [], overlay: [] });
}

export function toggleOverlay(id: string) {
  useStore.setState((s) => ({ overlay: s.overlay.includes(id) ? s.overlay.filter((o) => o !== id) : [...s.overlay, id] }));
}

const zipName = (r: RunRecord) => `sae_${r.config.architecture}_${r.config.d_sae}_run${r.number}.zip`;

async function keptFiles(id: string): Promise<{ record: RunRecord; files: Record<string, ArrayBuffer> } | null> {
  const record = useStore.getState().runs.find((r) => r.id === id);
  if (!record) return null;
  const files = await history.weights(id);
  if (!files) {
    appendLog(`run #${record.number}: its weights were not kept`);
    return null;
  }
  return { record, files };
}

/** The run's SAELens files as a zip. */
export async function downloadRun(id: string) {
  const kept = await keptFiles(id);
  if (kept) downloadFiles(zipName(kept.record), kept.files);
}

/** Open a kept run's weights as the imported SAE (evaluate, splice, or continue training it). */
export async function importRun(id: string) {
  const kept = await keptFiles(id);
  if (!kept) return;
  loadFiles(Object.entries(kept.files).map(([name, bytes]) => new File([bytes], name)));
}

// ---- sweeps -------------------------------------------------------------------------------------

let sweepCounter = 0;

/** Why a sweep cannot start now, or null. */
export function sweepProblem(s: AppState): string | null {
  if (!s.dataset) return 'load activations first';
  if (s.runState === 'running' || s.runState === 'paused') return 'a run is in progress; stop it first';
  const why = sweepParam(s.sweepParam).problem(s.form.architecture);
  if (why) return why;
  const parsed = parseSweepValues(s.sweepValues, s.sweepParam);
  return 'error' in parsed ? parsed.error : null;
}

/** Resolves true when the run was kept, false when it failed, was cancelled or replaced. */
function runOutcome(runId: string): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (kept: boolean) => { if (done) return; done = true; unsubscribe(); keptWaiters.delete(runId); resolve(kept); };
    keptWaiters.set(runId, finish);
    const unsubscribe = useStore.subscribe((s) => {
      if (s.runId !== runId) finish(false); // reset, or another run started
      else if (s.runError && (s.runState === 'paused' || s.runState === 'idle')) finish(false); // diverged or refused
    });
  });
}

/** Train the form's config once per value of the chosen parameter, one run after another. */
export async function runSweep(): Promise<void> {
  const s = useStore.getState();
  const problem = sweepProblem(s);
  if (problem) return;
  const parsed = parseSweepValues(s.sweepValues, s.sweepParam);
  if ('error' in parsed) return;
  const { values } = parsed;
  const spec = sweepParam(s.sweepParam);
  const architecture = s.form.architecture;
  const id = `sweep-${Date.now().toString(36)}-${sweepCounter++}`;
  const before: Partial<ModelForm> = {};
  for (const key of Object.keys(spec.patch(architecture, values[0])) as (keyof ModelForm)[]) (before as Record<string, unknown>)[key] = s.form[key];
  useStore.setState({ sweep: { id, param: spec.key, values, index: 0, state: 'running' } });
  appendLog(`sweep of ${spec.key} over ${values.join(', ')} (${architecture})`);
  const current = () => useStore.getState().sweep;
  for (let i = 0; i < values.length; i++) {
    if (current()?.id !== id || current()?.state !== 'running') break;
    useStore.setState((st) => ({ sweep: st.sweep && { ...st.sweep, index: i } }));
    setForm(spec.patch(architecture, values[i]));
    const runId = train();
    sweepTags.set(runId, { id, param: spec.key, value: values[i], index: i, count: values.length });
    const kept = await runOutcome(runId);
    if (!kept) {
      const sweep = current();
      if (sweep?.id === id && sweep.state === 'running') {
        const why = useStore.getState().runError?.message ?? 'the run was replaced';
        useStore.setState({ sweep: { ...sweep, state: 'failed', message: `run ${i + 1} (${spec.key} ${values[i]}) did not finish: ${why}` } });
      }
      break;
    }
  }
  setForm(before);
  const sweep = current();
  if (sweep?.id === id && sweep.state === 'running') {
    useStore.setState({ sweep: { ...sweep, index: values.length, state: 'done' } });
    appendLog(`sweep of ${spec.key} done: ${values.length} runs kept`);
  }
}

/** Stop the sweep: the current run stops (and is kept); no further value is trained. */
export function cancelSweep() {
  const { sweep, runState } = useStore.getState();
  if (!sweep || sweep.state !== 'running') return;
  useStore.setState({ sweep: { ...sweep, state: 'cancelled', message: `cancelled during run ${sweep.index + 1} of ${sweep.values.length} (that run stops and is kept)` } });
  if (runState === 'running' || runState === 'paused') stop();
}
