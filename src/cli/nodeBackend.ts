// tfjs in Node without tfjs-node (its install downloads a binary): the wasm backend, whose .wasm
// files ship inside the npm package, with the cpu backend as the fallback.
import { createRequire } from 'node:module';
import path from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend, type BackendChoice } from '../engine/backend';
import type { BackendName } from '../worker/protocol';

let wasmPathsSet = false;

export function useNodeWasmFiles(): void {
  if (wasmPathsSet) return;
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  setWasmPaths(path.join(dir, 'dist') + path.sep);
  wasmPathsSet = true;
}

export async function selectNodeBackend(prefer?: BackendName): Promise<BackendChoice> {
  useNodeWasmFiles();
  return selectBackend({ prefer, order: ['wasm', 'cpu'] });
}
