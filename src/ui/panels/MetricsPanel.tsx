// Latest logged values, the validation metrics at the end of a run, and the verdicts: convergence
// (CV < 5%) and, for a run that steers towards a target L0, that target (the one in effect).
import { useEffect, useState } from 'react';
import { CONVERGED_CV_PERCENT, convergenceCv, targetStatus } from '../../engine/metrics';
import { describeTarget, targetHistory, targetInEffect, targetTolerance } from '../../store/sparsityTarget';
import { SPARSITY_KIND } from '../../engine/config';
import { metricsBuffer } from '../../store/metricsBuffer';
import { staleRunProblem, useStore } from '../../store/store';
import { formatNumber } from '../../app/format';
import { spliceEvaluate } from '../../app/client';
import { SpliceButton, SpliceResult } from './SpliceResult';
import type { MetricRow } from '../../engine/types';

/** Re-render at most twice a second with the latest row (not on every metrics message). */
function useLatestRow(runState: string): { row: MetricRow | null; cv: number } {
  const [state, setState] = useState<{ row: MetricRow | null; cv: number }>({ row: null, cv: NaN });
  // Re-subscribed when the run state changes, so the final row shows as soon as a run ends.
  useEffect(() => {
    let seen = -1;
    const tick = () => {
      if (metricsBuffer.version === seen) return;
      seen = metricsBuffer.version;
      const row = metricsBuffer.last();
      setState({ row, cv: convergenceCv(metricsBuffer.log.column('total_loss')) });
    };
    const id = setInterval(tick, 500);
    tick();
    return () => clearInterval(id);
  }, [runState]);
  return state;
}

export function MetricsPanel() {
  const evaluation = useStore((s) => s.evaluation);
  const resolved = useStore((s) => s.resolved);
  const runState = useStore((s) => s.runState);
  const { row, cv } = useLatestRow(runState);
  const lmLoaded = useStore((s) => s.lm?.model !== undefined && s.lm?.tokenizer !== undefined);
  const splice = useStore((s) => s.splice);
  const runId = useStore((s) => s.runId);
  const stale = useStore((s) => staleRunProblem(s));
  // Only a target-L0 run is judged against a target: the one in effect (a slider may have moved it).
  const history = row ? targetHistory(resolved, metricsBuffer.log.column('step'), metricsBuffer.log.column('target_l0')) : [];
  const goal = targetInEffect(history);
  const target = row && goal !== null ? targetStatus(row.sparsity_l0, goal, targetTolerance(goal)) : null;
  return (
    <section className="panel metrics" aria-labelledby="metrics-title">
      <h2 id="metrics-title">Metrics</h2>
      {!row && !evaluation && <p className="muted small">Metrics appear once training starts.</p>}
      {row && (
        <table className="metrics-table" aria-label="Latest training metrics">
          <tbody>
            <tr><th>step</th><td>{row.step}</td><th>total loss</th><td>{formatNumber(row.total_loss)}</td></tr>
            <tr><th>recon loss</th><td>{formatNumber(row.recon_loss)}</td><th>sparsity loss</th><td>{formatNumber(row.sparsity_loss)}</td></tr>
            <tr><th>L0</th><td>{formatNumber(row.l0)}</td><th>L0 fraction</th><td>{formatNumber(row.sparsity_l0)}</td></tr>
            <tr><th>FVE (batch)</th><td>{formatNumber(row.fve)}</td><th>NMSE (batch)</th><td>{formatNumber(row.nmse)}</td></tr>
            <tr><th>dead</th><td>{(row.dead_fraction * 100).toFixed(1)}%</td><th>mean θ</th><td>{formatNumber(row.threshold_mean)}</td></tr>
            <tr><th>dense</th><td>{(row.dense_fraction * 100).toFixed(1)}%</td><th>λ in effect</th><td>{resolved && SPARSITY_KIND[resolved.architecture] === 'penalty' ? formatNumber(row.lambda_effective) : `— (k ${formatNumber(row.k)})`}</td></tr>
            {Number.isFinite(row.guidance_loss) && row.guidance_loss !== 0 && (
              <tr><th>guidance loss</th><td>{formatNumber(row.guidance_loss)}</td><th>lr</th><td>{formatNumber(row.lr)}</td></tr>
            )}
          </tbody>
        </table>
      )}
      {row && (
        <ul className="verdicts">
          {target ? (
            <li className={target.achieved ? 'ok' : 'warn'} data-testid="target-status" title={history.length > 1 ? `target L0 ${describeTarget(history)}` : undefined}>
              L0 target {formatNumber(target.target * 100)}%{history.length > 1 ? ' (moved during the run)' : ''}: {target.achieved ? `achieved (${(row.sparsity_l0 * 100).toFixed(1)}%)` : `not achieved (${(row.sparsity_l0 * 100).toFixed(1)}%, off by ${(target.deviation * 100).toFixed(1)} points)`}
            </li>
          ) : (
            <li className="plain" data-testid="l0-plain">L0 {formatNumber(row.l0)} active latents per token ({(row.sparsity_l0 * 100).toFixed(1)}% of d_sae); no target: sparsity is set by hand</li>
          )}
          <li className={cv < CONVERGED_CV_PERCENT ? 'ok' : 'warn'} data-testid="convergence-status">
            Convergence: {Number.isFinite(cv) ? `CV ${cv.toFixed(1)}% — ${cv < CONVERGED_CV_PERCENT ? 'converged' : 'not converged'}` : 'too few logged steps'}
          </li>
        </ul>
      )}
      {evaluation && (
        <>
          <h3>Validation ({evaluation.steps} steps, {evaluation.backend})</h3>
          <table className="metrics-table" aria-label="Validation metrics" data-testid="eval-metrics">
            <tbody>
              <tr><th>nmse</th><td>{formatNumber(evaluation.nmse)}</td><th>fve</th><td>{formatNumber(evaluation.fve)}</td></tr>
              <tr><th>nmse_per_token</th><td>{formatNumber(evaluation.nmse_per_token)}</td><th>dead_fraction</th><td>{formatNumber(evaluation.dead_fraction)}</td></tr>
              <tr><th>l0</th><td>{formatNumber(evaluation.l0)}</td><th>l0_fraction</th><td>{formatNumber(evaluation.l0_fraction)}</td></tr>
              {evaluation.feature_recovery !== undefined && (
                <tr><th title="mean over planted features of the best cosine with a decoder row">feature recovery</th><td colSpan={3}>{formatNumber(evaluation.feature_recovery)}</td></tr>
              )}
              {evaluation.early_stopped_at !== undefined && (
                <tr><th title="the validation loss stopped improving; the weights of this step were kept">early stopped at</th><td colSpan={3}>step {evaluation.early_stopped_at}</td></tr>
              )}
            </tbody>
          </table>
          {evaluation.guidance && evaluation.guidance.length > 0 && (
            <table className="metrics-table guidance-eval" aria-label="Guidance on the validation split" data-testid="eval-guidance">
              <thead>
                <tr><th>target</th><th>latent</th><th title="how well the latent separates positive from negative validation rows (0.5 = chance)">AUROC</th><th>mean f | pos</th><th>mean f | neg</th></tr>
              </thead>
              <tbody>
                {evaluation.guidance.map((g) => (
                  <tr key={g.id} data-testid={`eval-guidance-${g.id}`}>
                    <td>{g.id}</td><td>{g.latent}</td><td className={g.auroc >= 0.7 ? 'good' : undefined}>{formatNumber(g.auroc)}</td>
                    <td>{formatNumber(g.mean_pos)}</td><td>{formatNumber(g.mean_neg)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      {lmLoaded && runId && (
        <div className="lm-metrics">
          <h3>With the language model</h3>
          <SpliceButton source="run" state={splice} onClick={() => spliceEvaluate('run')} disabledWhy={runState === 'running' ? 'pause or let the run finish first' : stale} />
          <SpliceResult state={splice} testId="splice-metrics" />
        </div>
      )}
    </section>
  );
}
