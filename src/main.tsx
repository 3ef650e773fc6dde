import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import { loadSample, startEngine } from './app/client';
import { startRunHistory } from './app/runs';
import type { BackendName } from './engine/types';
import './ui/styles.css';

// ?backend=webgpu|webgl|wasm|cpu forces a backend (e.g. a software WebGPU adapter for testing);
// ?threads=N sets the wasm thread pool (default: every core but one, which the page keeps).
const params = new URLSearchParams(location.search);
const prefer = params.get('backend') as BackendName | null;
const threads = Number(params.get('threads'));
startEngine(prefer ?? undefined, Number.isInteger(threads) && threads > 0 ? threads : undefined);
loadSample();
void startRunHistory();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
