// `vite preview` of the bench's build with cross-origin isolation (COOP/COEP), so that the engine
// worker has SharedArrayBuffer and tfjs-backend-wasm can use its threaded build. Used by
// `npm run bench` for the "wasm, cross-origin isolated" row; the app's own config is unchanged.
import { mergeConfig } from 'vite';
import base from '../../vite.config.ts';

export default mergeConfig(base, {
  preview: {
    headers: {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    },
  },
});
