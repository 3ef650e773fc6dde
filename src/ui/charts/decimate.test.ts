// Thinning of live-chart traces: bounded points, every bucket's first/last/min/max original point kept.
import { describe, expect, it } from 'vitest';
import { m4, m4Indices, ShownTrace, type Point } from './decimate';

/** Brute force: per bucket of `width`, the first, last, min and max finite points and the first gap. */
function expectedPicks(x: number[], y: Point[], width: number): Set<number> {
  const buckets = new Map<number, number[]>();
  x.forEach((v, i) => { const b = Math.floor(v / width); buckets.set(b, [...(buckets.get(b) ?? []), i]); });
  const out = new Set<number>();
  for (const idx of buckets.values()) {
    const fin = idx.filter((i) => y[i] !== null && Number.isFinite(y[i]));
    const gap = idx.find((i) => !(y[i] !== null && Number.isFinite(y[i])));
    if (gap !== undefined) out.add(gap);
    if (!fin.length) continue;
    out.add(fin[0]);
    out.add(fin[fin.length - 1]);
    // First of the equal minima/maxima, as the scan keeps.
    let lo = fin[0], hi = fin[0];
    for (const i of fin) { if ((y[i] as number) < (y[lo] as number)) lo = i; if ((y[i] as number) > (y[hi] as number)) hi = i; }
    out.add(lo);
    out.add(hi);
  }
  return out;
}

function series(n: number, seed = 1): { x: number[]; y: Point[] } {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const x = Array.from({ length: n }, (_, i) => i * 10);
  const y: Point[] = x.map((_, i) => (i % 97 === 13 ? null : 100 / (1 + i / 50) + rand() * 3 - (i === 7777 ? 50 : 0)));
  return { x, y };
}

describe('m4 thinning', () => {
  it('keeps exactly each bucket’s first, last, min, max and first gap, in order', () => {
    const { x, y } = series(3000);
    for (const width of [1, 16, 64, 1024, 65536]) {
      const got = m4(x, y, width);
      expect(got).toEqual([...expectedPicks(x, y, width)].sort((a, b) => a - b));
    }
    const k = m4Indices(x, y, 100);
    expect(k.length).toBeLessThanOrEqual(100 * 5);
    expect(k[0]).toBe(0);
    expect(k[k.length - 1]).toBe(2999);
  });

  it('a live trace stays within its budget over 50,000 rows and keeps what thinning all points at once keeps', () => {
    const { x, y } = series(50_000, 3);
    const t = new ShownTrace();
    let thinned = 0;
    let maxLen = 0;
    let lastThinAt = 0;
    for (let i = 0; i < x.length; i += 13) {
      if (t.extend(x.slice(i, i + 13), y.slice(i, i + 13), 800)) { thinned++; lastThinAt = Math.min(x.length, i + 13); }
      maxLen = Math.max(maxLen, t.x.length);
    }
    expect(maxLen).toBeLessThanOrEqual(800 + 13);
    expect(thinned).toBeGreaterThan(10);
    // Every shown point is an original point.
    t.x.forEach((xv, i) => expect(t.y[i]).toBe(y[xv / 10]));
    // The thinned part equals one thinning of the original points at the final width (buckets nest).
    const head = { x: x.slice(0, lastThinAt), y: y.slice(0, lastThinAt) };
    const once = m4(head.x, head.y, t.width).map((i) => head.x[i]);
    const lastBucketStart = Math.floor(head.x[head.x.length - 1] / t.width) * t.width;
    const shownHead = t.x.filter((v) => v < lastBucketStart);
    expect(shownHead).toEqual(once.filter((v) => v < lastBucketStart));
    // The global extremes and the spike at row 7777 are shown.
    expect(t.x).toContain(77_770);
    expect(t.x[0]).toBe(0);
    expect(t.x[t.x.length - 1]).toBe(x[x.length - 1]);
  });
});
