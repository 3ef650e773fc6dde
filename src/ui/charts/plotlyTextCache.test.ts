// The build caps Plotly's text-size cache (vite.config.ts): the pattern must match the pinned bundle.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { PLOTLY_TEXT_SIZE_CACHE, plotlyTextSizeCache } from '../../../vite.config';

describe('Plotly text-size cache cap', () => {
  const id = 'node_modules/plotly.js-basic-dist-min/plotly-basic.min.js';
  const code = readFileSync(id, 'utf8');
  const run = (mode: 'build' | 'serve', src: string, file = id) => {
    const plugin = plotlyTextSizeCache() as unknown as { configResolved(c: { command: string }): void; transform(code: string, id: string): { code: string } | null };
    plugin.configResolved({ command: mode });
    return plugin.transform(src, file);
  };

  it('replaces the 10,000-entry limit of the pinned bundle', () => {
    expect(code).toMatch(/savedBBoxes=\{\};var [\w$]+=0,[\w$]+=1e4;/);
    const out = run('build', code)!.code;
    expect(out).toMatch(new RegExp(`savedBBoxes=\\{\\};var [\\w$]+=0,[\\w$]+=${PLOTLY_TEXT_SIZE_CACHE};`));
    expect(out.length).toBe(code.length - '1e4'.length + String(PLOTLY_TEXT_SIZE_CACHE).length);
  });

  it('fails the build when the pattern is gone, and leaves other files alone', () => {
    expect(() => run('build', 'x.savedBBoxes={};var a=0,b=20000;')).toThrow(/cap is not applied/);
    expect(run('build', 'const unrelated = 1;')).toBeNull();
  });

  it('warns in the dev server when the pattern is gone, and looks only at Plotly\'s files', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(run('serve', 'x.savedBBoxes={};var a=0,b=20000;')).toBeNull();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toBe(`[plotly-text-size-cache] ${id}: Plotly's text-size cache limit was not found; the cap is not applied`);
      // A source file that mentions Plotly and its cache (this test) is not Plotly's bundle.
      const self = 'src/ui/charts/plotlyTextCache.test.ts';
      expect(run('serve', readFileSync(self, 'utf8'), path.resolve(self))).toBeNull();
      expect(run('build', 'x.savedBBoxes={};var a=0,b=20000;', path.resolve(self))).toBeNull();
      expect(warn).toHaveBeenCalledTimes(1);
      // The dev server's pre-bundled copy is Plotly's bundle.
      expect(run('serve', code, path.resolve('node_modules/.vite/deps/plotly__js-basic-dist-min.js'))!.code).toContain(`=${PLOTLY_TEXT_SIZE_CACHE};`);
    } finally {
      warn.mockRestore();
    }
  });
});
