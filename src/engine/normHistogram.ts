// The equal-width histogram from 0 used for row norms (src/data/stats.ts) and SAELens feature
// densities (src/data/saeImport.ts). It sits in the engine so that src/data/saeImport.ts need not import
// src/data, a layer above it (.dependency-cruiser.cjs).

/** Equal-width bins from 0 to the largest value. */
export function histogram(values: Float32Array, bins: number): { edges: number[]; counts: number[] } {
  let hi = 0;
  for (const v of values) if (v > hi) hi = v;
  if (hi === 0) hi = 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (hi * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v / hi) * bins))] += 1;
  return { edges, counts };
}
