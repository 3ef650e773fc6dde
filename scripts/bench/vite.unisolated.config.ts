// `vite preview` of the bench's build WITHOUT cross-origin isolation: the app itself is served
// isolated (COOP/COEP, vite.config.ts) so that tfjs-backend-wasm runs its thread pool; this config
// turns the two headers off, so `npm run bench -- --one-thread` can show what threads are worth
// (no SharedArrayBuffer → the single-threaded wasm build).
import { mergeConfig } from 'vite';
import base from '../../vite.config.ts';

export default mergeConfig(base, {
  preview: {
    headers: {
      'Cross-Origin-Opener-Policy': 'unsafe-none',
      'Cross-Origin-Embedder-Policy': 'unsafe-none',
    },
  },
});
