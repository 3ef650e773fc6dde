// The result of splicing an SAE into the language model, and the button that asks for it.
import { FEW_PREDICTIONS, spliceTargetOf } from '../../data/sites';
import { useStore, type SpliceState } from '../../store/store';
import { formatNumber } from '../../app/format';

/** A standard error to two significant digits ("n/a" from one document). */
export function formatSe(se: number): string {
  return Number.isFinite(se) ? `± ${Number(se.toPrecision(2))}` : '± n/a';
}

const SE_TITLE = 'standard error over documents (the delta method; a 95% interval is about ± 1.96 standard errors); n/a from a single document';

export function SpliceButton({ state, onClick, disabledWhy, source }: { state: SpliceState; onClick: () => void; disabledWhy: string | null; source: 'run' | 'imported' }) {
  // Selected one string at a time: a fresh object per call would re-render without end.
  const targetWhy = useStore((s) => spliceTargetOf(source, s).disabledWhy);
  const warning = useStore((s) => spliceTargetOf(source, s).warning);
  const why = disabledWhy ?? targetWhy;
  return (
    <>
      <button type="button" onClick={onClick} disabled={why !== null || state.pending}
        title={why ?? 'run the model with the SAE reconstruction in place of the residual stream: CE, KL, loss recovered'}>
        {state.pending ? 'Running the model…' : 'Evaluate with the language model'}
      </button>
      {warning && !state.evaluation?.warning && <span className="warn small" role="status" data-testid="splice-site-warning">{warning}</span>}
    </>
  );
}

export function SpliceResult({ state, testId }: { state: SpliceState; testId: string }) {
  if (state.error) return <p className="error small" role="alert">{state.error}</p>;
  const e = state.evaluation;
  if (!e) return null;
  const many = e.groups.length > 1;
  return (
    <div data-testid={testId}>
      {e.warning && <p className="warn small" role="status" data-testid="splice-warning">{e.warning}</p>}
      <table className="metrics-table splice" aria-label="Language-model metrics">
        <thead>
          <tr>
            {many && <th>layer</th>}
            <th title="(CE_zero − CE_sae) / (CE_zero − CE_clean), ± its standard error">loss recovered</th>
            <th title="(CE_mean − CE_sae) / (CE_mean − CE_clean), ± its standard error: stricter, zero ablation is far worse than a uniform guess">vs mean abl.</th>
            <th title="mean KL(p_clean ‖ p_spliced) per token, nats">KL</th>
            <th title="cross-entropy with the SAE spliced in, nats/token">CE</th>
            <th title="zero ablation / mean ablation of the same positions">CE zero / mean</th>
          </tr>
        </thead>
        <tbody>
          {e.groups.map((g, i) => (
            <tr key={g.sites.join('-')}>
              {many && <td>{g.sites.join(', ')}</td>}
              <td>
                <strong data-testid={i === 0 ? 'loss-recovered' : undefined}>{formatNumber(g.loss_recovered)}</strong>{' '}
                <span className="muted" title={SE_TITLE} data-testid={i === 0 ? 'loss-recovered-se' : undefined}>{formatSe(g.loss_recovered_se)}</span>
              </td>
              <td>{formatNumber(g.loss_recovered_vs_mean)} <span className="muted" title={SE_TITLE}>{formatSe(g.loss_recovered_vs_mean_se)}</span></td>
              <td>{formatNumber(g.kl)}</td>
              <td>{formatNumber(g.ce)}</td>
              <td>{formatNumber(g.ce_zero)} / {formatNumber(g.ce_mean)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Clean CE {formatNumber(e.ce_clean)} nats/token over <span data-testid="splice-predictions">{e.predictions.toLocaleString('en-US')} predictions</span> of {e.text}; spliced at <span data-testid="splice-hook">{e.siteNames.join(', ')}</span>
        {e.groups.some((g) => g.replaced_fraction < 0.999) ? ` (only where the SAE routed: ${e.groups.map((g) => `${formatNumber(100 * g.replaced_fraction)}%`).join(', ')} of the entries)` : ''}; {formatNumber(e.seconds)} s.
        ± is the standard error over documents.
      </p>
      {e.predictions < FEW_PREDICTIONS && (
        <p className="muted small" data-testid="splice-few">
          Few predictions ({e.predictions.toLocaleString('en-US')}): loss recovered is noisy. Evaluate on a longer text (Language model panel, “Evaluate on”) for a tighter figure.
        </p>
      )}
    </div>
  );
}
