// The page `npm run bench` opens in headless Chromium: it exposes one function that runs a
// benchmark inside the same engine worker the app uses.
import type { BenchResult, BenchSpec } from '../engine/bench';
import type { BackendName, FromWorker, ToWorker } from '../worker/protocol';

const worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module' });
let ready: Promise<Extract<FromWorker, { type: 'ready' }>> | null = null;
let counter = 0;

function request<T extends FromWorker['type']>(msg: ToWorker, type: T, id?: string): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve) => {
    const onMessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.type === type && (!id || ('requestId' in m && m.requestId === id))) {
        worker.removeEventListener('message', onMessage);
        resolve(m as Extract<FromWorker, { type: T }>);
      }
    };
    worker.addEventListener('message', onMessage);
    worker.postMessage(msg);
  });
}

declare global {
  interface Window {
    saeBench(backend: BackendName, spec: BenchSpec): Promise<{ result?: BenchResult; error?: string; available: BackendName; skipped: Partial<Record<BackendName, string>> }>;
  }
}

window.saeBench = async (backend, spec) => {
  ready ??= request({ type: 'init', prefer: 'wasm' }, 'ready');
  const r = await ready;
  const requestId = `bench-${counter++}`;
  const res = await request({ type: 'bench', requestId, backend, spec }, 'benchResult', requestId);
  return { result: res.result, error: res.error, available: r.backend, skipped: r.skipped };
};
