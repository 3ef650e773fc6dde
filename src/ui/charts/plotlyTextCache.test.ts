// The build caps Plotly's text-size cache (vite.config.ts): the pattern must match the pinned bundle.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PLOTLY_TEXT_SIZE_CACHE, plotlyTextSizeCache } from '../../../vite.config';

describe('Plotly text-size cache cap', () => {
  const id = 'node_modules/plotly.js-basic-dist-min/plotly-basic.min.js';
  const code = readFileSync(id, 'utf8');
  const run = (mode: 'build' | 'serve', src: string) => {
    const plugin = plotlyTextSizeCache() as unknown as { configResolved(c: { command: string }): void; transform(code: string, id: string): { code: string } | null };
    plugin.configResolved({ command: mode });
    return plugin.transform(src, id);
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
});
