import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// One config for the app (vite), its production build and the unit tests (vitest).
export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  server: { port: 5173, strictPort: false, host: '127.0.0.1' },
  preview: { port: 4173, host: '127.0.0.1' },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 6000,
    // bench.html is the harness `npm run bench` drives in headless Chromium.
    rollupOptions: { input: { main: 'index.html', bench: 'bench.html' } },
  },
  // Pre-bundle the worker's and the charts' dependencies at start-up: otherwise the dev server
  // discovers them on first load and reloads the page mid-start.
  optimizeDeps: {
    include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm', 'plotly.js-basic-dist-min', 'fflate', 'zustand', 'react', 'react-dom', 'react-dom/client'],
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
