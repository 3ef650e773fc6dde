// The feature browser (docs/features.md): every latent of the run's SAE over the loaded
// activations — sortable, searchable, dead and dense flagged, a log10 density histogram — and for
// one latent its top-activating contexts (tokens shaded by the latent's activation, the top token
// bold), its activation histogram, decoder neighbours and, with a language model, the tokens its
// decoder direction promotes. Token strings are rendered as text, never as HTML.
import { useMemo, useState } from 'react';
import { staleRunProblem, useStore } from '../../store/store';
import { browseFeatures, exportContexts, exportDashboard, inspectLatent } from '../../app/client';
import { ActivationHistogram, DensityHistogram } from '../charts/DataCharts';
import { DENSE_FRACTION } from '../../engine/metrics';
import { formatNumber } from '../../app/format';
import type { LatentDetail } from '../../data/features';
import { useInterpret } from '../interpret';
import { InterpretPanel, ScoreBadge } from './InterpretPanel';

type SortKey = 'density' | 'max' | 'mean' | 'guidance' | 'index';
const PAGE = 50;

function Contexts({ detail }: { detail: LatentDetail }) {
  const max = Math.max(1e-12, ...detail.contexts.flatMap((c) => c.values));
  return (
    <ol className="contexts" aria-label={`Top contexts of latent ${detail.latent}`} data-testid="latent-contexts">
      {detail.contexts.map((c, i) => (
        <li key={i}>
          <span className="ctx-value">{formatNumber(c.values[c.centre])}</span>
          <span className="ctx-tokens">
            {c.tokens.map((t, k) => {
              const a = Math.max(0, c.values[k]) / max;
              return (
                <span key={k} className={k === c.centre ? 'tok top' : 'tok'} style={{ background: a > 0 ? `rgba(214, 96, 0, ${(0.12 + 0.78 * a).toFixed(3)})` : undefined }}
                  title={`row ${c.rows[k]}: ${formatNumber(c.values[k])}`} data-activation={c.values[k]}>
                  {t}
                </span>
              );
            })}
          </span>
        </li>
      ))}
    </ol>
  );
}

function Detail({ detail, busy }: { detail: LatentDetail; busy: boolean }) {
  const interpretation = useInterpret((s) => s.results[detail.latent]);
  return (
    <div className="latent-detail" data-testid="latent-detail">
      <div className="row" style={{ alignItems: 'center' }}>
        <h3>Latent {detail.latent}</h3>
        <button type="button" className="secondary" onClick={() => exportDashboard([detail.latent])} disabled={busy}
          title="this latent's dashboard in SAEDashboard's feature JSON (the shape Neuronpedia renders)">
          Neuronpedia JSON
        </button>
      </div>
      {interpretation && (
        <p className="interpretation small" data-testid="latent-interpretation">
          <ScoreBadge result={interpretation} /> {interpretation.explanation || <span className="muted">no explanation</span>}
          {interpretation.polysemantic && <span className="flag dense"> polysemantic</span>}
        </p>
      )}
      {detail.contexts.length === 0 ? <p className="muted small">This latent never fires on the loaded rows.</p> : <Contexts detail={detail} />}
      {detail.histogram.counts.length > 0 && <ActivationHistogram hist={detail.histogram} latent={detail.latent} />}
      <div className="latent-side">
        {detail.neighbours.length > 0 && (
          <table className="tensors small" aria-label="Decoder neighbours">
            <thead><tr><th>neighbour</th><th>cosine</th></tr></thead>
            <tbody>{detail.neighbours.map((n) => <tr key={n.latent}><td><button type="button" className="link" onClick={() => inspectLatent(n.latent)}>{n.latent}</button></td><td>{formatNumber(n.cosine)}</td></tr>)}</tbody>
          </table>
        )}
        {detail.promoted && (
          <table className="tensors small" aria-label="Logit lens">
            <thead><tr><th>promotes</th><th>logit</th><th>suppresses</th><th>logit</th></tr></thead>
            <tbody>{detail.promoted.map((p, i) => (
              <tr key={i}><td><code>{JSON.stringify(p.token)}</code></td><td>{formatNumber(p.logit)}</td><td><code>{JSON.stringify(detail.suppressed?.[i]?.token ?? '')}</code></td><td>{detail.suppressed?.[i] ? formatNumber(detail.suppressed[i].logit) : ''}</td></tr>
            ))}</tbody>
          </table>
        )}
      </div>
    </div>
  );
}

export function FeaturesPanel() {
  const runId = useStore((s) => s.runId);
  const runState = useStore((s) => s.runState);
  const features = useStore((s) => s.features);
  const pending = useStore((s) => s.featuresPending);
  const detail = useStore((s) => s.latentDetail);
  const latentPending = useStore((s) => s.latentPending);
  const streamed = useStore((s) => s.dataset?.streamed ?? false);
  const stale = useStore((s) => staleRunProblem(s));
  const guidance = useStore((s) => s.resolved?.guidance);
  // Guidance targets by latent (a latent may be steered by several targets).
  const targetsOf = useMemo(() => {
    const m = new Map<number, string[]>();
    for (const t of guidance ?? []) m.set(t.latent, [...(m.get(t.latent) ?? []), t.id]);
    return m;
  }, [guidance]);
  const [sort, setSort] = useState<SortKey>('density');
  const [query, setQuery] = useState('');
  const [page, setPage] = useState(0);
  const list = useMemo(() => {
    if (!features) return [];
    const n = features.density.length;
    let ids = Array.from({ length: n }, (_, i) => i);
    const q = query.trim().toLowerCase();
    if (q === 'dead') ids = ids.filter((i) => features.density[i] === 0);
    else if (q === 'dense') ids = ids.filter((i) => features.density[i] > DENSE_FRACTION);
    else if (q === 'guided') ids = ids.filter((i) => targetsOf.has(i));
    else if (/^\d+$/.test(q)) ids = ids.filter((i) => String(i).startsWith(q));
    else if (q) ids = ids.filter((i) => targetsOf.get(i)?.some((id) => id.toLowerCase() === q));
    // Guidance order: steered latents first (in target order), then by density.
    const targetRank = (i: number) => { const id = targetsOf.get(i)?.[0]; return id === undefined ? -Infinity : -(guidance ?? []).findIndex((t) => t.id === id); };
    const key = (i: number) => (sort === 'density' ? features.density[i] : sort === 'max' ? features.maxActivation[i] : sort === 'mean' ? features.meanActivation[i] : sort === 'guidance' ? targetRank(i) : -i);
    return ids.sort((a, b) => key(b) - key(a) || (sort === 'guidance' ? features.density[b] - features.density[a] : 0) || a - b);
  }, [features, sort, query, targetsOf, guidance]);
  if (!runId) return null;
  const why = runState === 'running' ? 'pause or let the run finish first' : stale ?? (streamed ? 'the activations are streamed from disk; the browser needs them in memory' : null);
  const shown = list.slice(page * PAGE, (page + 1) * PAGE);
  return (
    <section className="panel features" aria-labelledby="features-title" data-testid="features-panel">
      <h2 id="features-title">Features</h2>
      <div className="row">
        <button type="button" onClick={browseFeatures} disabled={why !== null || pending} title={why ?? 'run the SAE over every loaded row: density, activations and top contexts of every latent'}>
          {pending ? 'Reading every row…' : features ? 'Refresh features' : 'Browse features'}
        </button>
        {features && (
          <button type="button" className="secondary" onClick={exportContexts} disabled={why !== null || pending} title="every latent's statistics and top 20 contexts (tokens and activations) as JSON">
            Download contexts JSON
          </button>
        )}
        {features && (
          <button type="button" className="secondary" onClick={() => exportDashboard(Array.from(features.density.keys()).filter((i) => features.density[i] > 0))}
            disabled={why !== null || pending || features.dead === features.density.length}
            title="the dashboard of every latent that fires, in SAEDashboard's feature JSON (the shape Neuronpedia renders)">
            Neuronpedia JSON (all alive)
          </button>
        )}
        {features && <span className="muted small">{features.rows.toLocaleString('en-US')} rows · {features.dead} dead · {features.dense} dense (&gt; 10% of tokens)</span>}
      </div>
      {features && (
        <div className="features-grid">
          <div>
            <DensityHistogram density={features.densityHistogram} />
            <div className="row">
              <div className="field">
                <label htmlFor="feature-sort">Sort by</label>
                <select id="feature-sort" value={sort} onChange={(e) => { setSort(e.target.value as SortKey); setPage(0); }}>
                  <option value="density">density</option>
                  <option value="max">max activation</option>
                  <option value="mean">mean activation</option>
                  <option value="guidance">guidance target</option>
                  <option value="index">index</option>
                </select>
              </div>
              <div className="field">
                <label htmlFor="feature-search">Find (index, dead, dense, guided, target id)</label>
                <input id="feature-search" value={query} onChange={(e) => { setQuery(e.target.value); setPage(0); }} />
              </div>
            </div>
            <table className="tensors small latent-list" aria-label="Latents">
              <thead><tr><th>latent</th><th>density</th><th>max</th><th>mean</th><th /></tr></thead>
              <tbody>
                {shown.map((i) => {
                  const d = features.density[i];
                  return (
                    <tr key={i} className={detail?.latent === i ? 'selected' : undefined}>
                      <td><button type="button" className="link" onClick={() => inspectLatent(i)} aria-label={`Latent ${i}`}>{i}</button></td>
                      <td>{d === 0 ? '0' : `${formatNumber(100 * d)}%`}</td>
                      <td>{formatNumber(features.maxActivation[i])}</td>
                      <td>{formatNumber(features.meanActivation[i])}</td>
                      <td>
                        {d === 0 ? <span className="flag dead">dead</span> : d > DENSE_FRACTION ? <span className="flag dense">dense</span> : null}
                        {targetsOf.get(i)?.map((id) => <span key={id} className="flag guided" title={`guidance target ${id}`}>{id}</span>)}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <div className="row small">
              <button type="button" className="secondary" disabled={page === 0} onClick={() => setPage(page - 1)}>Previous</button>
              <span className="muted">{list.length ? `${page * PAGE + 1}–${Math.min(list.length, (page + 1) * PAGE)} of ${list.length}` : 'none'}</span>
              <button type="button" className="secondary" disabled={(page + 1) * PAGE >= list.length} onClick={() => setPage(page + 1)}>Next</button>
            </div>
          </div>
          <div>
            {latentPending !== null && <p className="muted small">Reading latent {latentPending}…</p>}
            {detail ? <Detail detail={detail} busy={why !== null || pending} /> : <p className="muted small">Pick a latent to see where it fires.</p>}
          </div>
        </div>
      )}
      <InterpretPanel />
    </section>
  );
}
