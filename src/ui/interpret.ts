// Auto-interpretation in the page: the worker gives the top contexts of the chosen latents, the
// page sends them one latent at a time to the OpenAI-compatible endpoint the user named (HTTP never
// happens in the worker), and keeps an explanation and a 1–5 score per latent.
//
// The endpoint URL and model live in this module's own zustand store (never persisted, never
// logged); the API key lives only in the module variable below: not in any store, not in the run
// log, not in the export (which is checked for it before it is saved).
import { create } from 'zustand';
import {
  chatCompletionsUrl, endpointHost, interpretLatents, interpretationsExport, isAbort,
  type FetchLike, type InterpretEndpoint, type InterpretResult,
} from '../data/autointerp';
import { appendLog, useStore } from '../store/store';
import { requestLatentContexts } from '../worker/client';
import { download } from './download';

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
}

export const useInterpret = create<InterpretState>(() => ({
  url: '',
  model: '',
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
}));

let current: AbortController | null = null;

/** The page's fetch: no cookies, no cache. */
const pageFetch: FetchLike = (url, init) => fetch(url, { ...init, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });

/** Explain `latents` of the current run, one request at a time; results appear as they come. */
export async function runInterpretation(latents: number[]): Promise<void> {
  const st = useInterpret.getState();
  const { runId, step } = useStore.getState();
  if (st.running || !runId || latents.length === 0) return;
  const endpoint: InterpretEndpoint = { url: st.url.trim(), model: st.model.trim(), key: apiKey };
  try {
    chatCompletionsUrl(endpoint.url);
    if (!endpoint.model) throw new Error('give the model name the endpoint serves');
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
