// The build points tfjs-backend-wasm's thread workers at the package's unminified glue
// (vite.config.ts wasmThreadsGlue): the pattern must match the pinned package, the replacement must
// name the glue file, and the glue must define what the workers call.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasmThreadsGlue } from '../../vite.config';

describe('wasm threads glue', () => {
  const id = `${process.cwd()}/node_modules/@tensorflow/tfjs-backend-wasm/dist/backend_wasm.js`;
  const code = readFileSync(id, 'utf8');
  const run = (mode: 'build' | 'serve', src: string, file = id) => {
    const plugin = wasmThreadsGlue() as unknown as { configResolved(c: { command: string }): void; transform(code: string, id: string): { code: string } | null };
    plugin.configResolved({ command: mode });
    return plugin.transform(src, file);
  };

  it('replaces the Blob made from the minifiable factory with the URL of the shipped glue (build only)', () => {
    const out = run('build', code)!.code;
    expect(out).not.toContain('wasmFactoryThreadedSimd.toString()');
    expect(out).toContain("import __threadedGlueUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js?url';");
    expect(out).toContain('factoryConfig.mainScriptUrlOrBlob = new URL(__threadedGlueUrl, self.location.href).href;');
    expect(run('serve', code)).toBeNull();
  });

  it('the glue defines WasmBackendModuleThreadedSimd at top level, as the thread workers expect', () => {
    const glue = readFileSync('node_modules/@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js', 'utf8');
    expect(glue).toMatch(/^\s*var WasmBackendModuleThreadedSimd = /);
  });

  it('fails the build when the pattern is gone, and leaves other files alone', () => {
    expect(() => run('build', 'const x = 1;')).toThrow(/threaded glue Blob was not found/);
    expect(run('build', code, '/x/other.js')).toBeNull();
  });
});
