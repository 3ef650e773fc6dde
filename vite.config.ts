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
  optimizeDeps: { exclude: ['@tensorflow/tfjs-backend-wasm'] },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
