// Log axes label full values at powers of ten (never Plotly's bare leading digits) with unlabeled
// minor ticks between, and every log axis of the page is made by logAxis.ts.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LogRange, logAxis, logTickLabel, logTicks, powerOfTwoLogAxis, tickRelayout } from './logAxis';

/** The labelled ticks inside [lo, hi] as text. */
const shown = (lo: number, hi: number) => {
  const t = logTicks(lo, hi);
  return (t.tickvals ?? []).map((v, i) => [v, t.ticktext![i]] as const).filter(([v]) => v >= lo && v <= hi).map(([, text]) => text);
};

describe('log axis ticks', () => {
  it('over several decades: labels only at powers of ten, full values, minor ticks at 2…9 × 10ⁿ', () => {
    // The loss of a run falling from 300 to 0.02 (Plotly's own ticks read "100, 5, 2, 10, 5, 2, 1, …").
    const t = logTicks(0.02, 300);
    expect(t.tickmode).toBe('array');
    expect(shown(0.02, 300)).toEqual(['0.1', '1', '10', '100']);
    for (const v of t.tickvals!) expect(Number.isInteger(Math.log10(v))).toBe(true);
    expect(t.minor).toMatchObject({ tickmode: 'array', showgrid: true });
    const minor = (t.minor.tickvals as number[]);
    expect(minor).toContain(0.02);
    expect(minor).toContain(50);
    expect(minor).toContain(0.3); // exactly 0.3, not 3 × 0.1
    expect(minor.some((v) => Number.isInteger(Math.log10(v)))).toBe(false);
  });

  it('small and large powers of ten read 1e-2 and 1e4', () => {
    expect(shown(2e-5, 0.5)).toEqual(['1e-4', '1e-3', '1e-2', '0.1']);
    expect(shown(3, 2e5)).toEqual(['10', '100', '1000', '1e4', '1e5']);
    expect([logTickLabel(2, -2), logTickLabel(5, -1), logTickLabel(2, 3), logTickLabel(5, 4)]).toEqual(['2e-2', '0.5', '2000', '5e4']);
  });

  it('over about a decade: labels at 1, 2 and 5 × 10ⁿ; over a sliver of one: Plotly’s (full values there)', () => {
    expect(shown(3, 40)).toEqual(['5', '10', '20']);
    expect(logTicks(3, 40).minor.tickvals).toContain(30);
    expect(logTicks(8, 16).tickmode).toBe('auto');
    // A single value: Plotly pads its axis to a decade or more, where its own labels are mantissas.
    expect(logTicks(0.3, 0.3).ticktext).toEqual(expect.arrayContaining(['0.1', '0.2', '0.5', '1']));
    expect(logTicks(0.3, 0.31).tickmode).toBe('array');
    expect(logTicks(NaN, NaN).tickmode).toBe('auto');
  });

  it('a growing range gives new ticks only when they change', () => {
    const range = new LogRange();
    range.add([5, 9, null, -1, 0, NaN]);
    expect(range.changedTicks()?.tickmode).toBe('auto');
    range.add([8]);
    expect(range.changedTicks()).toBeNull();
    range.add([0.5]);
    expect(range.changedTicks()?.ticktext).toContain('0.5');
    range.add([0.04]);
    const t = range.changedTicks()!;
    expect(t.ticktext!.filter((_, i) => t.tickvals![i] >= 0.04 && t.tickvals![i] <= 9)).toEqual(['0.1', '1']);
    range.add([0.06, 7]);
    expect(range.changedTicks()).toBeNull();
    expect(tickRelayout('yaxis', t)).toMatchObject({ 'yaxis.tickmode': 'array', 'yaxis.tickvals': t.tickvals, 'yaxis.minor': t.minor });
  });

  it('axes of counts and of L0', () => {
    expect(logAxis([[1, 40, 0], [2000]])).toMatchObject({ type: 'log', tickmode: 'array' });
    expect(powerOfTwoLogAxis([3.2, 12, 0])).toMatchObject({ type: 'log', tickvals: [2, 4, 8, 16], ticktext: ['2', '4', '8', '16'] });
  });
});

describe('every log axis of the page', () => {
  it('is made by logAxis.ts (no Plotly log ticks anywhere else)', () => {
    const ui = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.tsx?$/.test(name) && !name.includes('.test.')) files.push(p);
      }
    };
    walk(ui);
    const offenders = files.filter((f) => !f.endsWith('logAxis.ts') && /type:\s*[^,}\n]*'log'/.test(readFileSync(f, 'utf8')));
    expect(files.length).toBeGreaterThan(10);
    expect(offenders.map((f) => path.relative(ui, f))).toEqual([]);
  });
});
