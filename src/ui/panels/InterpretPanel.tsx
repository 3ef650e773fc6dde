// Auto-interpretation (docs/features.md) inside the feature browser: an OpenAI-compatible
// chat endpoint explains the chosen latents from their top contexts, one request at a time, with a
// 1–5 score each. The key field is a password field whose value only reaches ui/interpret.ts's
// module variable. Explanations are rendered as text, never as HTML.
//
// The page's Content-Security-Policy lets it contact its own origin and this machine only: a remote
// endpoint's origin is allowed here by the user (stored, applied by a reload) and can be removed.
import { useMemo } from 'react';
import { MAX_CONTEXTS, parseLatentList, topLatents, type InterpretResult } from '../../data/autointerp';
import { useStore } from '../../store/store';
import { inspectLatent } from '../../app/client';
import { activeAllowedOrigins } from '../csp';
import {
  accessProblem, allowOriginAndReload, blockedMessage, cancelInterpretation, endpointAccess, exportInterpretations, interpretKey,
  reloadForPolicy, removeAllowedOrigin, runInterpretation, setInterpretKey, useInterpret, type EndpointAccess,
} from '../interpret';

const RELOAD_NOTE = 'Reloading starts the page afresh: the endpoint URL and model are kept, the API key is not (type it again), '
  + 'nor are the loaded files and this run\'s feature browser (finished runs stay in the Runs panel).';

/** Why the endpoint cannot be contacted under the page's policy, and the way to allow it. */
function PolicyNotice({ access }: { access: EndpointAccess }) {
  if (access.kind === 'unnameable') return <div className="notice warn-box" role="status" data-testid="interpret-csp">{accessProblem(access)}.</div>;
  if (access.kind !== 'blocked') return null;
  const { origin } = access;
  if (access.policyMissing) {
    return (
      <div className="notice warn-box" role="status" data-testid="interpret-csp">
        This page&apos;s security-policy script (csp.js) did not run, so no remote endpoint can be allowed: the page contacts only its own origin and this machine.
      </div>
    );
  }
  return (
    <div className="notice warn-box" role="status" data-testid="interpret-csp">
      {access.stored
        ? <p>{origin} is allowed from the next load of the page on; this page&apos;s Content-Security-Policy does not include it yet.</p>
        : <p>{blockedMessage(origin)}</p>}
      <p className="small">{RELOAD_NOTE}</p>
      {access.stored
        ? <button type="button" onClick={reloadForPolicy}>Reload now</button>
        : <button type="button" onClick={() => allowOriginAndReload(origin)}>Allow {origin} and reload</button>}
    </div>
  );
}

/** The remote origins the user allowed: in the page's policy now, stored for the next load, or both. */
function AllowedOrigins({ stored }: { stored: string[] }) {
  const active = activeAllowedOrigins() ?? [];
  const listed = [...new Set([...active, ...stored])];
  if (listed.length === 0) return null;
  return (
    <div className="small" data-testid="allowed-origins">
      <span className="muted">Remote endpoints this page may contact (besides its own origin and this machine):</span>
      <ul aria-label="Allowed endpoint origins">
        {listed.map((o) => (
          <li key={o}>
            {o}
            {active.includes(o) && !stored.includes(o) && <span className="muted"> (removed: still allowed until the page reloads)</span>}
            {!active.includes(o) && stored.includes(o) && <span className="muted"> (from the next load on)</span>}
            {stored.includes(o) && <> <button type="button" className="link" aria-label={`Remove ${o}`} onClick={() => removeAllowedOrigin(o)}>remove</button></>}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The score as a small coloured badge (or a dash when the answer had none). */
export function ScoreBadge({ result }: { result: InterpretResult }) {
  if (result.score === null) return <span className="score none" title={result.error}>–</span>;
  return <span className={`score s${result.score}`} title={`${result.score} of 5: how well one explanation fits the contexts`}>{result.score}</span>;
}

export function InterpretPanel() {
  const st = useInterpret();
  const features = useStore((s) => s.features);
  const runState = useStore((s) => s.runState);
  const pending = useStore((s) => s.featuresPending);
  const dSae = features?.density.length ?? 0;
  const choice = useMemo((): number[] | string => {
    if (!features) return [];
    if (st.mode === 'list') return parseLatentList(st.list, dSae);
    if (!Number.isInteger(st.topN) || st.topN < 1) return 'N must be a whole number ≥ 1';
    const ids = topLatents(features.maxActivation, features.density, Math.min(st.topN, 1000));
    return ids.length ? ids : 'every latent is dead';
  }, [features, st.mode, st.list, st.topN, dSae]);
  const access = st.url.trim() ? endpointAccess(st.url, st.storedOrigins) : null;
  const blocked = access ? accessProblem(access) : null;
  const why = !features
    ? 'Browse features first: the latents and their contexts come from the feature list.'
    : runState === 'running' ? 'Pause or let the run finish first.'
      : pending ? 'Wait for the feature pass to finish.'
        : !st.url.trim() ? 'Give the endpoint URL.'
          : blocked ? 'The page may not contact this endpoint: see the notice above.'
          : !st.model.trim() ? 'Give the model name.'
            : typeof choice === 'string' ? `Latents: ${choice}.` : null;
  const rows = st.order.map((l) => st.results[l]).filter(Boolean);
  const set = (patch: Partial<typeof st>) => useInterpret.setState(patch);
  return (
    <div className="interpret" data-testid="interpret-panel">
      <h3>Auto-interpretation</h3>
      <p className="muted small">
        Sends the top {MAX_CONTEXTS} contexts of each chosen latent (tokens and activations, nothing else) to an OpenAI-compatible chat
        endpoint, one latent at a time, and keeps its explanation and a 1–5 score.
      </p>
      <div className="interpret-endpoint">
        <div className="field">
          <label htmlFor="interpret-url">Endpoint URL</label>
          <input id="interpret-url" value={st.url} placeholder="http://127.0.0.1:8000/v1" spellCheck={false} autoComplete="off"
            onChange={(e) => set({ url: e.target.value })} title="the API's base URL (…/v1); /chat/completions is added unless the URL ends with it" />
        </div>
        <div className="field">
          <label htmlFor="interpret-model">Model</label>
          <input id="interpret-model" value={st.model} placeholder="gpt-4o-mini" spellCheck={false} autoComplete="off" onChange={(e) => set({ model: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="interpret-key">API key</label>
          {/* Uncontrolled, and refilled through the value property (never the value attribute, which would put the key in the DOM's markup). */}
          <input id="interpret-key" type="password" autoComplete="off" spellCheck={false} placeholder="optional for local servers"
            ref={(el) => { if (el && !el.value && interpretKey()) el.value = interpretKey(); }}
            onChange={(e) => setInterpretKey(e.target.value)} />
        </div>
      </div>
      <p className="muted small key-note">The key is kept in memory for this session only; it is never exported or logged.</p>
      {access && <PolicyNotice access={access} />}
      <AllowedOrigins stored={st.storedOrigins} />
      <div className="row interpret-choice">
        <label className="check">
          <input type="radio" name="interpret-mode" checked={st.mode === 'top'} onChange={() => set({ mode: 'top' })} />
          the
          <input type="number" min={1} max={1000} aria-label="Number of latents" value={Number.isFinite(st.topN) ? st.topN : ''} onChange={(e) => set({ mode: 'top', topN: e.target.valueAsNumber })} />
          alive latents with the highest max activation
        </label>
        <label className="check">
          <input type="radio" name="interpret-mode" checked={st.mode === 'list'} onChange={() => set({ mode: 'list' })} />
          latents
          <input aria-label="Latent list" placeholder="3, 7, 12-15" value={st.list} onChange={(e) => set({ mode: 'list', list: e.target.value })} aria-invalid={st.mode === 'list' && typeof choice === 'string' && st.list !== ''} />
        </label>
      </div>
      <div className="row">
        {st.running
          ? <button type="button" onClick={cancelInterpretation}>Cancel</button>
          : <button type="button" className="primary" disabled={why !== null} title={why ?? undefined} onClick={() => typeof choice !== 'string' && void runInterpretation(choice)}>
            {/* Until features are browsed the latents are not known: no count (a "0" would read as none). */}
            Interpret{!features || typeof choice === 'string' ? ' latents' : ` ${choice.length} latent${choice.length === 1 ? '' : 's'}`}
          </button>}
        <button type="button" className="secondary" disabled={rows.length === 0 || st.running} onClick={exportInterpretations} title="explanations, scores and model name as JSON (never the key)">
          Download JSON
        </button>
        {why && !st.running && <span className="muted small" data-testid="interpret-why">{why}</span>}
      </div>
      {st.progress && st.running && (
        <div data-testid="interpret-progress">
          <progress max={st.progress.total} value={st.progress.done} />
          <div className="progress-text"><span>{st.phase}</span><span>{st.progress.done} / {st.progress.total}</span></div>
        </div>
      )}
      {st.error && <div className="alert" role="alert">{st.error}</div>}
      {st.notice && <p className="muted small">{st.notice}</p>}
      {rows.length > 0 && (
        <table className="tensors small interpret-results" aria-label="Interpretations">
          <thead><tr><th>latent</th><th>score</th><th>explanation</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.latent}>
                <td><button type="button" className="link" onClick={() => inspectLatent(r.latent)}>{r.latent}</button></td>
                <td><ScoreBadge result={r} /></td>
                <td>
                  {r.explanation}
                  {r.polysemantic && <span className="flag dense"> polysemantic</span>}
                  {r.error && <span className="interpret-error"> {r.error}</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
