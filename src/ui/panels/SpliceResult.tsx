// The result of splicing an SAE into the language model, and the button that asks for it.
import type { SpliceState } from '../../store/store';
import { formatNumber } from '../format';

export function SpliceButton({ state, onClick, disabledWhy }: { state: SpliceState; onClick: () => void; disabledWhy: string | null }) {
  return (
    <button type="button" onClick={onClick} disabled={disabledWhy !== null || state.pending}
      title={disabledWhy ?? 'run the model with the SAE reconstruction in place of the residual stream: CE, KL, loss recovered'}>
      {state.pending ? 'Running the model…' : 'Evaluate with the language model'}
    </button>
  );
}

export function SpliceResult({ state, testId }: { state: SpliceState; testId: string }) {
  if (state.error) return <p className="error small" role="alert">{state.error}</p>;
  const e = state.evaluation;
  if (!e) return null;
  const many = e.groups.length > 1;
  return (
    <div data-testid={testId}>
      <table className="metrics-table splice" aria-label="Language-model metrics">
        <thead>
          <tr>
            {many && <th>layer</th>}
            <th title="(CE_zero − CE_sae) / (CE_zero − CE_clean)">loss recovered</th>
            <th title="(CE_mean − CE_sae) / (CE_mean − CE_clean): stricter, zero ablation is far worse than a uniform guess">vs mean abl.</th>
            <th title="mean KL(p_clean ‖ p_spliced) per token, nats">KL</th>
            <th title="cross-entropy with the SAE spliced in, nats/token">CE</th>
            <th title="zero ablation / mean ablation of the same positions">CE zero / mean</th>
          </tr>
        </thead>
        <tbody>
          {e.groups.map((g, i) => (
            <tr key={g.sites.join('-')}>
              {many && <td>{g.sites.join(', ')}</td>}
              <td data-testid={i === 0 ? 'loss-recovered' : undefined}><strong>{formatNumber(g.loss_recovered)}</strong></td>
              <td>{formatNumber(g.loss_recovered_vs_mean)}</td>
              <td>{formatNumber(g.kl)}</td>
              <td>{formatNumber(g.ce)}</td>
              <td>{formatNumber(g.ce_zero)} / {formatNumber(g.ce_mean)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Clean CE {formatNumber(e.ce_clean)} nats/token over {e.predictions.toLocaleString('en-US')} predictions of {e.text}; spliced at {e.siteNames.join(', ')}
        {e.groups.some((g) => g.replaced_fraction < 0.999) ? ` (only where the SAE routed: ${e.groups.map((g) => `${formatNumber(100 * g.replaced_fraction)}%`).join(', ')} of the entries)` : ''}; {formatNumber(e.seconds)} s.
      </p>
    </div>
  );
}
