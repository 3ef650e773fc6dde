// Run controls and progress.
import { discardAutosave, pause, reset, restartEngine, resume, resumeRun, setBackendPreference, stop, train } from '../../app/client';
import { useEffect, useMemo, useState } from 'react';
import { checkForm, staleRun, useStore } from '../../store/store';
import { describeRunData } from '../../store/runHistory';
import { fingerprint, fingerprintMismatch } from '../../run/autosave';
import type { BackendPreference } from '../../worker/protocol';
import type { BackendName } from '../../engine/types';

/** Every backend the engine knows, fastest first on a real GPU (the page does not load tfjs itself). */
const BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/**
 * The engine worker died: say so and offer a restart (the charts and kept runs are still here).
 * A banner pinned to the top of the window, so it is seen wherever the page is scrolled.
 */
export function EngineDown() {
  const down = useStore((s) => s.engineDown);
  const autosave = useStore((s) => s.autosave);
  if (!down) return null;
  return (
    <div className="alert banner" role="alert" data-testid="engine-down">
      The engine stopped: {down.message}. The charts, the log and the kept runs are still here.
      <div className="row">
        <button type="button" className="primary" onClick={() => void restartEngine()}>
          {autosave ? `Restart the engine and resume from step ${autosave.step.toLocaleString('en-US')}` : 'Restart the engine'}
        </button>
      </div>
    </div>
  );
}

/**
 * An autosaved run (after a reload or a crash): resume it on the same data, or discard it. At the
 * top of the window: a reload keeps the scroll position, so the Train panel may be out of view.
 */
export function ResumeOffer() {
  const autosave = useStore((s) => s.autosave);
  const dataset = useStore((s) => s.dataset);
  const runState = useStore((s) => s.runState);
  const down = useStore((s) => s.engineDown);
  if (!autosave || down || runState === 'running') return null;
  // The page has no rows to checksum: shape and name decide here, the worker checks the values.
  const loaded = dataset ? fingerprint(dataset) : null;
  const why = fingerprintMismatch(autosave.dataset, loaded);
  return (
    <div className="notice warn-box banner" role="status" data-testid="resume-offer">
      An interrupted run was autosaved: <strong>{autosave.architecture} · d_sae {autosave.dSae}</strong> on {autosave.dataset.name},
      step {autosave.step.toLocaleString('en-US')} of {autosave.totalSteps.toLocaleString('en-US')}, saved {new Date(autosave.savedAt).toLocaleTimeString()}.
      <div className="row">
        <button type="button" className="primary" onClick={() => void resumeRun()} disabled={why !== null} title={why ?? 'continue exactly where it was'}>Resume autosaved run</button>
        <button type="button" className="secondary" onClick={() => void discardAutosave()}>Discard</button>
      </div>
      {why && <div className="hint">{why[0].toUpperCase() + why.slice(1)}.</div>}
    </div>
  );
}

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** auto (measure at Train) or a named backend; fixed while a run is active. */
function BackendChoice({ active }: { active: boolean }) {
  const preference = useStore((s) => s.backendPreference);
  const available = useStore((s) => s.availableBackends);
  const ready = useStore((s) => s.backend !== null);
  return (
    <div className="backend-choice">
      <label htmlFor="backend-choice">Backend</label>
      <select id="backend-choice" value={preference} disabled={active || !ready} onChange={(e) => setBackendPreference(e.target.value as BackendPreference)}
        title={active ? 'the backend of an active run cannot change; stop it first' : undefined}>
        <option value="auto">auto (fastest, measured)</option>
        {BACKENDS.map((b) => {
          const offered = available.includes(b);
          return <option key={b} value={b} disabled={!offered}>{offered ? b : `${b} (not in this browser)`}</option>;
        })}
      </select>
      <span className="muted small">{preference === 'auto' ? 'each size is measured once, when you train' : 'used as chosen, nothing measured'}</span>
    </div>
  );
}

/**
 * Which data the shown run is of. After new data is loaded the charts, metrics and analysis below
 * still show the previous run: say so, and offer to clear them (the run stays in Runs).
 */
function RunDataNotice() {
  const runData = useStore((s) => s.runData);
  const runState = useStore((s) => s.runState);
  const runId = useStore((s) => s.runId);
  const dataset = useStore((s) => s.dataset);
  const stale = staleRun({ runId, runData, dataset });
  if (!runData || runState === 'idle') return null;
  if (!stale) return <p className="muted small run-data" data-testid="run-data">Run on {describeRunData(runData)}</p>;
  const active = runState === 'running' || runState === 'paused';
  return (
    <div className="notice warn-box" role="status" data-testid="run-data">
      {active
        ? <>This run continues on its own data, <strong>{stale.runData}</strong>; the newly loaded {stale.loaded} is for the next run.</>
        : <>The charts, metrics and analysis below are of the last run, trained on <strong>{stale.runData}</strong> — not on the loaded {stale.loaded}.</>}
      {!active && (
        <div className="row">
          <button type="button" className="secondary" onClick={reset} title="the run stays in Runs below (if it finished)">Clear the last run's results</button>
        </div>
      )}
    </div>
  );
}

/** Seconds since `since`, re-rendered every second while shown. */
function Elapsed({ since }: { since: number }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, []);
  return <>{Math.max(0, Math.floor((now - since) / 1000))} s</>;
}

export function TrainPanel() {
  const { runState, step, totalSteps, tokensPerS, etaSeconds, dataset, runError, form, guidance, calibrating, backend, resolved, runUntrained: untrained } = useStore();
  const active = runState === 'running' || runState === 'paused';
  // The engine answers messages once it has chosen its start-up backend; a Train before that would wait unexplained.
  const engineReady = backend !== null;
  // The config is checked as it is edited, so a bad setting is explained before Train is pressed.
  const { problem } = useMemo(() => checkForm(form, guidance, dataset), [form, guidance, dataset]);
  const fraction = totalSteps > 0 ? step / totalSteps : 0;
  const trainWhy = !engineReady ? 'the engine is starting: it is choosing a backend'
    : !dataset ? 'load activations first (or the sample)'
      : active ? 'a run is in progress' : problem;
  return (
    <section className="panel" aria-labelledby="train-title">
      <h2 id="train-title">Train</h2>
      <div className="row">
        <button type="button" className="primary" onClick={() => train()} disabled={trainWhy !== null} title={trainWhy ?? 'train an SAE with the Model panel\'s settings'}>Train</button>
        {runState === 'paused'
          ? <button type="button" onClick={resume}>Resume</button>
          : <button type="button" onClick={pause} disabled={runState !== 'running' || calibrating !== null}>Pause</button>}
        <button type="button" onClick={stop} disabled={!active}>Stop</button>
        <button type="button" className="secondary" onClick={reset} disabled={runState === 'idle'}>Reset</button>
      </div>
      <BackendChoice active={active} />
      {problem && !active && <p className="warn small" data-testid="config-problem">Cannot train: {problem}</p>}
      <progress aria-label="Training progress" max={1} value={fraction} />
      <div className="progress-text" data-testid="progress">
        <span>{!engineReady
          ? 'starting the engine: choosing a backend…'
          : calibrating
            ? <>measuring the backends for this size: {calibrating.backend} ({calibrating.index + 1} of {calibrating.total}) · <Elapsed since={calibrating.since} /></>
            : runState === 'running' && !resolved ? 'preparing the run…'
              : runState === 'idle' ? 'idle'
                : untrained && step === 0 ? 'the imported SAE, opened without training'
                  : `${runState} · step ${step.toLocaleString('en-US')} / ${totalSteps.toLocaleString('en-US')}`}</span>
        <span>{tokensPerS > 0 ? `${Math.round(tokensPerS).toLocaleString('en-US')} tokens/s · ETA ${runState === 'running' ? eta(etaSeconds) : '—'}` : ''}</span>
      </div>
      {calibrating && (
        <p className="muted small" data-testid="calibrating-hint">
          Backend auto: each backend this browser offers trains a few steps of this configuration and the fastest trains the run.
          Each size is measured once; choose a backend above to skip it.
        </p>
      )}
      <RunDataNotice />
      {runError && (
        <div className="alert" role="alert">
          {runError.message}
          {runError.hint && <div className="hint">{runError.hint}</div>}
        </div>
      )}
    </section>
  );
}
