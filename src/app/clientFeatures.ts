// The page's feature-browser requests to the engine worker (latent list, one latent, top contexts) and their replies.
//
import type { LatentContext } from '../data/features';
import { appendLog, useStore, type AppState } from '../store/store';
import { send } from './clientLink';
import type { FromWorker } from '../worker/protocol';

/** The feature browser's list for the current run. */
export function browseFeatures() {
  const { runId } = useStore.getState();
  if (!runId) return;
  useStore.setState({ featuresPending: true, latentDetail: null });
  send({ type: 'features', runId });
}

export function inspectLatent(latent: number) {
  const { runId } = useStore.getState();
  if (!runId) return;
  useStore.setState({ latentPending: latent });
  send({ type: 'latent', runId, latent });
}

/** Run id → the pending request for latents' top contexts (auto-interpretation; one at a time). */
const contextRequests = new Map<string, { resolve: (c: Record<number, LatentContext[]>) => void; reject: (e: Error) => void }>();

/** The top contexts of some latents of the current run; rejects when the run is gone or `signal` aborts. */
export function requestLatentContexts(latents: number[], signal?: AbortSignal): Promise<Record<number, LatentContext[]>> {
  const { runId } = useStore.getState();
  if (!runId) return Promise.reject(new Error('no run: train first.'));
  contextRequests.get(runId)?.reject(new Error('superseded by a newer request'));
  return new Promise((resolve, reject) => {
    const entry = {
      resolve: (c: Record<number, LatentContext[]>) => { signal?.removeEventListener('abort', onAbort); resolve(c); },
      reject: (e: Error) => { signal?.removeEventListener('abort', onAbort); reject(e); },
    };
    const onAbort = () => {
      if (contextRequests.get(runId) === entry) contextRequests.delete(runId);
      reject(Object.assign(new Error('cancelled'), { name: 'AbortError' }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    contextRequests.set(runId, entry);
    send({ type: 'latentContexts', runId, latents });
  });
}

/** Answers for auto-interpretation: the top contexts asked for by run id, whatever run is current. */
export function onLatentContexts(msg: Extract<FromWorker, { type: 'latentContexts' }>) {
  const waiting = contextRequests.get(msg.runId);
  contextRequests.delete(msg.runId);
  if (msg.error) waiting?.reject(new Error(msg.error));
  else waiting?.resolve(msg.contexts);
}

/** The current run's feature list and latent details. */
export function onFeaturesReply(msg: Extract<FromWorker, { type: 'features' | 'latent' }>) {
  switch (msg.type) {
    case 'features':
      useStore.setState({ features: msg.features, featuresPending: false });
      appendLog(`feature browser: ${msg.features.rows.toLocaleString('en-US')} rows, ${msg.features.dead} dead and ${msg.features.dense} dense latents`);
      return;
    case 'latent':
      useStore.setState({ latentDetail: msg.detail, latentPending: null });
      return;
  }
}

/** An error while the feature browser waits on the current run: it stops waiting. False when it is not one. */
export function onFeaturesError(msg: Extract<FromWorker, { type: 'error' }>, s: AppState): boolean {
  if (!(msg.runId && msg.runId === s.runId && (s.featuresPending || s.latentPending !== null))) return false;
  useStore.setState({ featuresPending: false, latentPending: null, runError: { message: msg.message, hint: msg.hint } });
  return true;
}
