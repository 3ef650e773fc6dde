// Auto-interpretation in the page: the worker gives the top contexts of the chosen latents, the
// page sends them one latent at a time to the OpenAI-compatible endpoint the user named (HTTP never
// happens in the worker), and keeps an explanation and a 1–5 score per latent.
//
// The endpoint URL and model live in this module's own zustand store (never persisted, never
// logged — except across the one reload that applies a newly allowed origin, in sessionStorage);
// the API key lives only in the module variable below: not in any store, not in the run log, not in
// the export (which is checked for it before it is saved), not in any storage.
//
// The page's Content-Security-Policy (./csp.ts) lets it contact its own origin and this machine
// only; a remote endpoint's origin has to be allowed by the user, which takes a reload. Requests
// to an origin the policy does not allow are not even attempted.
import { create } from 'zustand';
import {
  chatCompletionsUrl, endpointHost, interpretLatents, interpretationsExport, isAbort,
  type FetchLike, type InterpretEndpoint, type InterpretResult,
} from '../data/autointerp';
import { appendLog, useStore } from '../store/store';
import { requestLatentContexts } from '../app/client';
import {
  PENDING_ENDPOINT_KEY, activeAllowedOrigins, endpointPermitted, normalizeOrigin, storeAllowedOrigins, storedAllowedOrigins,
} from './csp';
import { download } from '../app/download';

/** The API key: in memory for this session only. */
let apiKey = '';
export const setInterpretKey = (key: string) => { apiKey = key.trim(); };
export const interpretKey = () => apiKey;

export interface InterpretState {
  url: string;
  model: string;
  /** Which latents: the top N alive ones by max activation, or a typed list. */
  mode: 'top' | 'list';
  topN: number;
  list: string;
  running: boolean;
  /** What is happening, in words ('Reading the contexts…', 'latent 12'). */
  phase: string | null;
  progress: { done: number; total: number } | null;
  /** Results of the current run's latents, by latent, and the order they were made in. */
  results: Record<number, InterpretResult>;
  order: number[];
  /** The model, URL and step the results were made with (for the export). */
  madeWith: { model: string; url: string; runId: string; step: number } | null;
  error: string | null;
  notice: string | null;
  /** Remote origins stored as allowed (they take effect on the next load of the page). */
  storedOrigins: string[];
}

/** The endpoint URL and model kept across the reload that applies an allowed origin (read once). */
function takePendingEndpoint(): { url: string; model: string } {
  try {
    const raw = sessionStorage.getItem(PENDING_ENDPOINT_KEY);
    sessionStorage.removeItem(PENDING_ENDPOINT_KEY);
    const v = raw ? JSON.parse(raw) as unknown : null;
    if (v && typeof v === 'object') {
      const { url, model } = v as Record<string, unknown>;
      return { url: typeof url === 'string' ? url : '', model: typeof model === 'string' ? model : '' };
    }
  } catch { /* no storage: nothing kept */ }
  return { url: '', model: '' };
}

const pending = typeof window === 'undefined' ? { url: '', model: '' } : takePendingEndpoint();

export const useInterpret = create<InterpretState>(() => ({
  url: pending.url,
  model: pending.model,
  mode: 'top',
  topN: 10,
  list: '',
  running: false,
  phase: null,
  progress: null,
  results: {},
  order: [],
  madeWith: null,
  error: null,
  notice: null,
  storedOrigins: typeof window === 'undefined' ? [] : storedAllowedOrigins(),
}));

/** What the page's policy says about an endpoint URL. */
export type EndpointAccess =
  /** Not an http(s) URL (the form says so otherwise). */
  | { kind: 'invalid' }
  | { kind: 'permitted'; origin: string }
  /** An http(s) URL whose host a CSP cannot name (an IPv6 literal such as [::1]). */
  | { kind: 'unnameable'; host: string }
  /** Remote and not allowed: `stored` when it is allowed from the next load on. */
  | { kind: 'blocked'; origin: string; stored: boolean; policyMissing: boolean };

export function endpointAccess(url: string, storedOrigins: readonly string[] = useInterpret.getState().storedOrigins): EndpointAccess {
  let parsed: URL;
  try { parsed = new URL(url.trim()); } catch { return { kind: 'invalid' }; }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { kind: 'invalid' };
  const origin = normalizeOrigin(url);
  if (!origin) return { kind: 'unnameable', host: parsed.host };
  if (endpointPermitted(url)) return { kind: 'permitted', origin };
  return { kind: 'blocked', origin, stored: storedOrigins.includes(origin), policyMissing: activeAllowedOrigins() === null };
}

/** Why a request to an endpoint would be refused by the page's policy, or null when it would not. */
export function accessProblem(a: EndpointAccess): string | null {
  if (a.kind === 'unnameable') return `the page's Content-Security-Policy cannot name the host ${a.host}; use 127.0.0.1 or localhost for this machine, or a host name`;
  if (a.kind === 'blocked') return blockedMessage(a.origin);
  return null;
}

/** The notice shown for an endpoint the page's policy does not let it contact. */
export const blockedMessage = (origin: string) =>
  `This page's Content-Security-Policy only lets it contact its own origin and this machine; allow ${origin} and reload.`;

/** Reload the page (a CSP cannot be widened in place), keeping the endpoint URL and model. */
function reloadKeepingEndpoint() {
  const { url, model } = useInterpret.getState();
  try { sessionStorage.setItem(PENDING_ENDPOINT_KEY, JSON.stringify({ url, model })); } catch { /* kept nowhere */ }
  location.reload();
}

/** Store `origin` as allowed and reload so that the page's policy includes it. */
export function allowOriginAndReload(origin: string) {
  const o = normalizeOrigin(origin);
  if (!o) return;
  storeAllowedOrigins([...storedAllowedOrigins().filter((x) => x !== o), o]);
  reloadKeepingEndpoint();
}

/** Reload to apply the stored list (an origin allowed in another tab, or removed here). */
export const reloadForPolicy = reloadKeepingEndpoint;

/** Forget an allowed origin; the page's current policy still allows it until the next load. */
export function removeAllowedOrigin(origin: string) {
  storeAllowedOrigins(storedAllowedOrigins().filter((x) => x !== origin));
  useInterpret.setState({ storedOrigins: storedAllowedOrigins() });
}

let current: AbortController | null = null;

/** The page's fetch: no cookies, no cache, and only to origins the page's policy allows. */
const pageFetch: FetchLike = (url, init) => {
  const origin = normalizeOrigin(url);
  if (!endpointPermitted(url)) return Promise.reject(new Error(blockedMessage(origin ?? url)));
  return fetch(url, { ...init, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });
};

/** Explain `latents` of the current run, one request at a time; results appear as they come. */
export async function runInterpretation(latents: number[]): Promise<void> {
  const st = useInterpret.getState();
  const { runId, step } = useStore.getState();
  if (st.running || !runId || latents.length === 0) return;
  const endpoint: InterpretEndpoint = { url: st.url.trim(), model: st.model.trim(), key: apiKey };
  try {
    chatCompletionsUrl(endpoint.url);
    if (!endpoint.model) throw new Error('give the model name the endpoint serves');
    const problem = accessProblem(endpointAccess(endpoint.url));
    if (problem) throw new Error(problem);
  } catch (e) {
    useInterpret.setState({ error: e instanceof Error ? e.message : String(e), notice: null });
    return;
  }
  const ctrl = new AbortController();
  current = ctrl;
  // Results of another model, endpoint or run are not mixed with these.
  const prev = st.madeWith;
  const fresh = !prev || prev.model !== endpoint.model || endpointHost(prev.url) !== endpointHost(endpoint.url) || prev.runId !== runId;
  useInterpret.setState({
    running: true, error: null, notice: null, phase: 'Reading the contexts…', progress: { done: 0, total: latents.length },
    ...(fresh ? { results: {}, order: [] } : {}),
    madeWith: { model: endpoint.model, url: endpoint.url, runId, step },
  });
  try {
    const contexts = await requestLatentContexts(latents, ctrl.signal);
    const items = latents.map((latent) => ({ latent, contexts: contexts[latent] ?? [] }));
    const batch = await interpretLatents(endpoint, items, {
      fetch: pageFetch,
      signal: ctrl.signal,
      onProgress: (done, total, r) => {
        if (ctrl.signal.aborted) return;
        const next = items[done]?.latent;
        useInterpret.setState((s) => ({
          progress: { done, total },
          phase: next !== undefined ? `latent ${next}` : null,
          ...(r ? { results: { ...s.results, [r.latent]: r }, order: [...s.order.filter((l) => l !== r.latent), r.latent] } : {}),
        }));
      },
    });
    if (useStore.getState().runId !== runId) return; // the run was replaced meanwhile
    const scored = batch.results.filter((r) => r.score !== null).length;
    useInterpret.setState({
      error: batch.error ?? null,
      notice: batch.cancelled ? `Cancelled after ${batch.results.length} of ${latents.length} latents.` : null,
    });
    if (batch.results.length) appendLog(`auto-interpretation: ${batch.results.length} latents explained (${scored} scored)${batch.cancelled ? ', cancelled' : ''}`);
  } catch (e) {
    if (useStore.getState().runId !== runId) return;
    if (isAbort(e) || ctrl.signal.aborted) useInterpret.setState({ notice: 'Cancelled.' });
    else useInterpret.setState({ error: e instanceof Error ? e.message : String(e) });
  } finally {
    if (current === ctrl) current = null;
    useInterpret.setState({ running: false, phase: null });
  }
}

/** Stop after the request in flight is aborted; results so far are kept. */
export function cancelInterpretation() {
  current?.abort();
}

/** The results as interpretations.json (model, endpoint host, run; never the key). */
export function exportInterpretations() {
  const st = useInterpret.getState();
  const s = useStore.getState();
  if (!st.madeWith || st.order.length === 0) return;
  const json = interpretationsExport(st.order.map((l) => st.results[l]), {
    model: st.madeWith.model,
    url: st.madeWith.url,
    run: { id: st.madeWith.runId, architecture: s.resolved?.architecture, d_sae: s.resolved?.d_sae, step: st.madeWith.step, dataset: s.dataset?.name },
  });
  const text = JSON.stringify(json, null, 2);
  if (apiKey && text.includes(apiKey)) {
    useInterpret.setState({ error: 'the export would contain the API key; it was not saved.' });
    return;
  }
  download('interpretations.json', text, 'application/json');
}

// A new run (or a reset) makes the results meaningless: cancel and forget them.
useStore.subscribe((s, prev) => {
  if (s.runId === prev.runId) return;
  cancelInterpretation();
  useInterpret.setState({ results: {}, order: [], madeWith: null, progress: null, error: null, notice: null });
});
