// The page's run commands to the engine worker (start, pause, live, guidance, resume) and the run's replies.
// Replies of an older run never reach here: src/app/clientEngine.ts drops every message whose
// runId is not the store's. Metric rows go to metricsBuffer (src/store/metricsBuffer.ts), outside
// React state, so that a metrics tick re-renders no component.
//
import { SPARSITY_KIND, type ConfigInput, type GuidanceTarget, type LiveParams } from '../engine/config';
import type { LiveEvent } from '../engine/types';
import { spliceTargetOf } from '../data/sites';
import { describeTokenRule } from '../data/tokenRules';
import { clearAutosave, readAutosave, summarise } from '../run/autosave';
import { metricsBuffer } from '../store/metricsBuffer';
import { runDataOf } from '../store/runHistory';
import { NO_SPLICE, appendLog, configFromForm, formFromConfig, guidanceProblem, toTarget, useStore, type AppState } from '../store/store';
import { formatNumber } from './format';
import { newId, send } from './clientLink';
import type { FromWorker } from '../worker/protocol';

export function describeSource(t: GuidanceTarget): string {
  return t.labels.kind === 'file' ? `labels ${t.labels.name}` : describeTokenRule(t.labels);
}

function describeTarget(t: GuidanceTarget): string {
  return `${t.id}: latent ${t.latent} ← ${describeSource(t)}, ${t.method} β ${formatNumber(t.beta)}${t.method === 'contrastive' ? ` margin ${formatNumber(t.margin)}` : ''}`;
}

function describeEvent(e: LiveEvent): string[] {
  const lines: string[] = [];
  const parts = Object.entries(e.changes).map(([k, v]) => (k === 'targetL0' ? `target L0 → ${formatNumber((v as number) * 100)}%` : `${k} → ${formatNumber(v as number)}`));
  if (parts.length) lines.push(`step ${e.step}: ${parts.join(', ')}`);
  if (e.guidance) lines.push(`step ${e.step}: guidance → ${e.guidance.length ? e.guidance.map(describeTarget).join('; ') : 'none'}`);
  if (e.note) lines.push(`step ${e.step}: ${e.note}`);
  return lines;
}

/** Run state that a new run and a reset both start from. */
function freshRun(): Partial<AppState> {
  return {
    calibrating: null,
    step: 0, evaluation: null, outcome: null, runError: null, exported: null, tokensPerS: 0, etaSeconds: 0, live: null, resolved: null,
    checkpoints: [], checkpointExporting: null, splice: NO_SPLICE, splicePoints: [],
    features: null, featuresPending: false, latentDetail: null, latentPending: null,
  };
}

/** Start a run with the form's config; returns its run id. */
export function train(fromImported = false, untrained = false): string {
  const runId = newId('run');
  const s = useStore.getState();
  metricsBuffer.clear();
  useStore.setState({ ...freshRun(), runId, runState: 'running', runData: s.dataset ? runDataOf(s.dataset) : null, runUntrained: untrained });
  const st = useStore.getState(); // the form may just have been filled from an imported SAE
  send({ type: 'start', runId, config: configFromForm(st.form, s.guidance, s.dataset?.nLayers ?? 1), fromImported, lmEvalEvery: st.lm?.model ? st.lmEvalEvery : 0, spliceSite: spliceTargetOf('run', st).site, ...(untrained ? { untrained: true } : {}) });
  return runId;
}

export function runCommand(type: 'pause' | 'resume' | 'stop' | 'export') {
  const { runId } = useStore.getState();
  if (runId) send({ type, runId });
}

export const pause = () => runCommand('pause');
export const resume = () => runCommand('resume');
export const stop = () => runCommand('stop');

/** Forget the run (the worker keeps nothing that matters once a new run starts). */
export function reset() {
  const { runId, runState } = useStore.getState();
  if (runId && (runState === 'running' || runState === 'paused')) send({ type: 'stop', runId });
  metricsBuffer.clear();
  useStore.setState({ ...freshRun(), runId: null, runData: null, runState: 'idle', totalSteps: 0, runUntrained: false });
}

export function updateLive(changes: Partial<LiveParams>) {
  const { runId, live } = useStore.getState();
  if (live) useStore.setState({ live: { ...live, ...changes } });
  if (runId) send({ type: 'update', runId, live: changes });
}

/** Show the autosaved run (if any) as resumable. */
export async function refreshAutosave() {
  const saved = await readAutosave(false);
  useStore.setState({ autosave: saved ? summarise(saved) : null });
}

/** Continue the autosaved run: its log comes back into the charts, the worker restores its state. */
export async function resumeRun() {
  const saved = await readAutosave();
  if (!saved) { useStore.setState({ autosave: null }); return; }
  const runId = newId('run');
  metricsBuffer.clear();
  metricsBuffer.append(saved.log.toRows());
  // The Model and Guidance panels show the resumed run's settings (a reload reset them).
  const { form, guidance } = formFromConfig(saved.config as unknown as ConfigInput);
  const s = useStore.getState();
  useStore.setState({ ...freshRun(), runId, runState: 'running', runData: runDataOf(saved.dataset), step: saved.state.meta.step, totalSteps: saved.config.steps, form: { ...s.form, ...form }, ...(guidance.length ? { guidance } : {}) });
  send({ type: 'resumeAutosave', runId });
}

export async function discardAutosave() {
  await clearAutosave();
  useStore.setState({ autosave: null });
}

/** The current run's progress: started, metric rows, state changes, the final evaluation, a rollback. */
export function onRunReply(msg: Extract<FromWorker, { type: 'started' | 'metrics' | 'status' | 'evaluated' | 'rolledBack' }>, s: AppState) {
  switch (msg.type) {
    case 'started':
      useStore.setState({ resolved: msg.config, live: msg.live, totalSteps: msg.config.steps, runState: 'running', autosave: null, calibrating: null, ...(msg.resumedFrom !== undefined ? { step: msg.resumedFrom } : {}) });
      lastSentGuidance = JSON.stringify(msg.config.guidance);
      if (msg.resumedFrom !== undefined) appendLog(`resumed the autosaved run at step ${msg.resumedFrom.toLocaleString('en-US')}`);
      appendLog(`started ${msg.config.architecture}: d_sae ${msg.config.d_sae}, batch ${msg.config.batch_size}, ${msg.config.steps} steps`
        + (msg.config.sparsity_mode === 'target_l0' ? `, target L0 ${formatNumber(msg.config.target_l0 * 100)}%` : ''));
      return;
    case 'metrics': {
      metricsBuffer.append(msg.rows);
      const last = msg.rows[msg.rows.length - 1];
      if (last) {
        const remaining = Math.max(0, s.totalSteps - last.step);
        const rate = last.tokens_per_s / Math.max(1, s.resolved?.batch_size ?? 1);
        const patch: Partial<typeof s> = { tokensPerS: last.tokens_per_s, etaSeconds: rate > 0 ? remaining / rate : 0 };
        // In target-L0 mode the controller moves λ (or k): the sliders show where it is.
        if (s.live && s.resolved?.sparsity_mode === 'target_l0') {
          const kind = SPARSITY_KIND[s.resolved.architecture];
          if (kind === 'penalty' && Number.isFinite(last.lambda) && last.lambda !== s.live.lambda) patch.live = { ...s.live, lambda: last.lambda };
          if (kind === 'k' && Number.isFinite(last.k) && last.k !== s.live.k) patch.live = { ...s.live, k: last.k };
        }
        useStore.setState(patch);
      }
      for (const e of msg.events) for (const line of describeEvent(e)) appendLog(line);
      return;
    }
    case 'status':
      if (msg.state !== s.runState || msg.message) appendLog(msg.message ?? `${msg.state} at step ${msg.step}`);
      useStore.setState({
        runState: msg.state, step: msg.step, totalSteps: msg.totalSteps, calibrating: null,
        ...(msg.checkpoints && msg.checkpoints.join() !== s.checkpoints.join() ? { checkpoints: msg.checkpoints } : {}),
      });
      return;
    case 'evaluated':
      useStore.setState({ evaluation: msg.metrics, outcome: msg.outcome ?? null });
      return;
    case 'rolledBack':
      metricsBuffer.truncate(msg.step);
      useStore.setState((st) => ({ step: msg.step, splicePoints: st.splicePoints.filter((p) => p.step <= msg.step) }));
      return;
  }
}

/** An error of the current run (or of none): shown as the run's error. */
export function onRunError(msg: Extract<FromWorker, { type: 'error' }>, s: AppState) {
  if (!msg.runId || msg.runId === s.runId) {
    useStore.setState({ runError: { message: msg.message, hint: msg.hint }, exporting: false, checkpointExporting: null });
    // A rejected start leaves nothing running.
    if (msg.runId && s.runState === 'running' && !s.resolved) useStore.setState({ runState: 'idle', runId: null, calibrating: null });
  }
}

// ---- guidance edits during a run ----------------------------------------------------------------

const GUIDANCE_DEBOUNCE_MS = 300;
let lastSentGuidance = '[]';
let guidanceTimer: ReturnType<typeof setTimeout> | null = null;

/** The targets a running job should have now: the valid ones of the form. */
function runnableTargets(): GuidanceTarget[] {
  const s = useStore.getState();
  const dSae = s.resolved?.d_sae ?? s.form.d_sae;
  return s.guidance.filter((g) => guidanceProblem(g, s.dataset, dSae) === null).map(toTarget);
}

function sendGuidanceNow() {
  guidanceTimer = null;
  const { runId, runState, resolved } = useStore.getState();
  if (!runId || !resolved || (runState !== 'running' && runState !== 'paused')) return;
  const targets = runnableTargets();
  const json = JSON.stringify(targets);
  if (json === lastSentGuidance) return;
  lastSentGuidance = json;
  send({ type: 'guidance', runId, targets });
}

/** While a run is active, any change to the targets reaches it (debounced) at its next step. */
export function watchGuidance() {
  useStore.subscribe((s, prev) => {
    if (s.guidance === prev.guidance) return;
    if (!s.runId || (s.runState !== 'running' && s.runState !== 'paused')) return;
    if (guidanceTimer) clearTimeout(guidanceTimer);
    guidanceTimer = setTimeout(sendGuidanceNow, GUIDANCE_DEBOUNCE_MS);
  });
}
