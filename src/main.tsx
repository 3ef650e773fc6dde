import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import { loadSample, startEngine } from './worker/client';
import { startRunHistory } from './worker/runs';
import type { BackendName } from './worker/protocol';
import './ui/styles.css';

// ?backend=webgpu|webgl|wasm|cpu forces a backend (e.g. a software WebGPU adapter for testing).
const prefer = new URLSearchParams(location.search).get('backend') as BackendName | null;
startEngine(prefer ?? undefined);
loadSample();
void startRunHistory();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
