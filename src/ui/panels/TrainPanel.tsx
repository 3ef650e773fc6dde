// Run controls and progress.
import { pause, reset, resume, stop, train } from '../../worker/client';
import { useMemo } from 'react';
import { checkForm, useStore } from '../../store/store';

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function TrainPanel() {
  const { runState, step, totalSteps, tokensPerS, etaSeconds, dataset, runError, form, guidance } = useStore();
  const active = runState === 'running' || runState === 'paused';
  // The config is checked as it is edited, so a bad setting is explained before Train is pressed.
  const { problem } = useMemo(() => checkForm(form, guidance, dataset), [form, guidance, dataset]);
  const fraction = totalSteps > 0 ? step / totalSteps : 0;
  return (
    <section className="panel" aria-labelledby="train-title">
      <h2 id="train-title">Train</h2>
      <div className="row">
        <button type="button" className="primary" onClick={() => train()} disabled={!dataset || active || problem !== null}>Train</button>
        {runState === 'paused'
          ? <button type="button" onClick={resume}>Resume</button>
          : <button type="button" onClick={pause} disabled={runState !== 'running'}>Pause</button>}
        <button type="button" onClick={stop} disabled={!active}>Stop</button>
        <button type="button" className="secondary" onClick={reset} disabled={runState === 'idle'}>Reset</button>
      </div>
      {problem && !active && <p className="warn small" data-testid="config-problem">Cannot train: {problem}</p>}
      <progress aria-label="Training progress" max={1} value={fraction} />
      <div className="progress-text" data-testid="progress">
        <span>{runState === 'idle' ? 'idle' : `${runState} · step ${step.toLocaleString('en-US')} / ${totalSteps.toLocaleString('en-US')}`}</span>
        <span>{tokensPerS > 0 ? `${Math.round(tokensPerS).toLocaleString('en-US')} tokens/s · ETA ${runState === 'running' ? eta(etaSeconds) : '—'}` : ''}</span>
      </div>
      {runError && (
        <div className="alert" role="alert">
          {runError.message}
          {runError.hint && <div className="hint">{runError.hint}</div>}
        </div>
      )}
    </section>
  );
}
