// What each latent does over a dataset, for the feature browser (docs/features.md): firing
// density, max and mean activation, and the top-k activating rows, gathered batch by batch in one
// pass; token windows around a row; decoder neighbours by cosine. Plain arrays, no tensors.

export interface TopActivation {
  /** Dataset row (token) index. */
  row: number;
  value: number;
}

export interface FeatureSummary {
  rows: number;
  /** Fraction of rows on which each latent fired (f > 0) [d_sae]. */
  density: Float64Array;
  /** Largest activation of each latent [d_sae] (0 when it never fired). */
  maxActivation: Float32Array;
  /** Mean activation over the rows where it fired [d_sae] (0 when it never fired). */
  meanActivation: Float64Array;
  /** Per latent, its top activations, largest first (ties: earlier row first). */
  top: TopActivation[][];
}

/**
 * Accumulates latent activations f [n, d_sae] (row-major) batch by batch. Per latent a min-heap of
 * its k largest (value, row) pairs: a value enters only when it beats the heap's smallest, so the
 * cost per batch is about the number of non-zero activations.
 */
export class FeatureCollector {
  private readonly fired: Float64Array;
  private readonly sum: Float64Array;
  private readonly max: Float32Array;
  /** Heap j holds values and rows of latent j, flattened: [v0, r0, v1, r1, …]. */
  private readonly heaps: number[][];
  private rows = 0;

  constructor(readonly dSae: number, readonly k = 20) {
    this.fired = new Float64Array(dSae);
    this.sum = new Float64Array(dSae);
    this.max = new Float32Array(dSae);
    this.heaps = Array.from({ length: dSae }, () => []);
  }

  /** f [n, d_sae] of dataset rows rowIds[0..n) (default: the next n rows). */
  add(f: ArrayLike<number>, n: number, rowIds?: ArrayLike<number>): void {
    const d = this.dSae;
    if (f.length !== n * d) throw new Error(`FeatureCollector.add: ${f.length} values for ${n} rows of ${d} latents`);
    for (let i = 0; i < n; i++) {
      const row = rowIds ? rowIds[i] : this.rows + i;
      const base = i * d;
      for (let j = 0; j < d; j++) {
        const v = f[base + j];
        if (!(v > 0)) continue;
        this.fired[j] += 1;
        this.sum[j] += v;
        if (v > this.max[j]) this.max[j] = v;
        this.offer(j, v, row);
      }
    }
    this.rows += n;
  }

  // The heap's root is its worst entry: smallest value, later row on equal values.
  private worse(h: number[], a: number, b: number): boolean {
    return h[2 * a] < h[2 * b] || (h[2 * a] === h[2 * b] && h[2 * a + 1] > h[2 * b + 1]);
  }

  private offer(j: number, v: number, row: number): void {
    const h = this.heaps[j];
    const size = h.length / 2;
    if (size < this.k) {
      h.push(v, row);
      let i = size;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(h, i, p)) break;
        this.swap(h, i, p);
        i = p;
      }
      return;
    }
    if (v < h[0] || (v === h[0] && row > h[1])) return;
    h[0] = v;
    h[1] = row;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < size && this.worse(h, l, m)) m = l;
      if (r < size && this.worse(h, r, m)) m = r;
      if (m === i) break;
      this.swap(h, i, m);
      i = m;
    }
  }

  private swap(h: number[], a: number, b: number): void {
    const v = h[2 * a], r = h[2 * a + 1];
    h[2 * a] = h[2 * b]; h[2 * a + 1] = h[2 * b + 1];
    h[2 * b] = v; h[2 * b + 1] = r;
  }

  finish(): FeatureSummary {
    const top = this.heaps.map((h) => {
      const list: TopActivation[] = [];
      for (let i = 0; i < h.length; i += 2) list.push({ value: h[i], row: h[i + 1] });
      return list.sort((a, b) => b.value - a.value || a.row - b.row);
    });
    return {
      rows: this.rows,
      density: this.fired.map((c) => c / Math.max(1, this.rows)),
      maxActivation: this.max.slice(),
      meanActivation: this.sum.map((s, j) => (this.fired[j] > 0 ? s / this.fired[j] : 0)),
      top,
    };
  }
}

/**
 * Token ids around a row within its document: up to `before` rows before and `after` rows after,
 * never crossing a document boundary (doc ids) or a restart of positions. Returns the rows and the
 * index of the centre row among them.
 */
export function contextRows(row: number, total: number, opts: { before?: number; after?: number; docIds?: ArrayLike<number>; positions?: ArrayLike<number> } = {}): { rows: number[]; centre: number } {
  const before = opts.before ?? 10;
  const after = opts.after ?? 4;
  const same = (a: number, b: number) => {
    if (opts.docIds && opts.docIds[a] !== opts.docIds[b]) return false;
    // Positions count up within a document: a step that is not +1 starts another one.
    if (opts.positions) {
      const [lo, hi] = a < b ? [a, b] : [b, a];
      for (let r = lo + 1; r <= hi; r++) if (opts.positions[r] !== opts.positions[r - 1] + 1) return false;
    }
    return true;
  };
  let start = row;
  while (start > 0 && row - start < before && same(start - 1, row)) start--;
  let end = row;
  while (end < total - 1 && end - row < after && same(end + 1, row)) end++;
  return { rows: Array.from({ length: end - start + 1 }, (_, i) => start + i), centre: row - start };
}

/** The `n` latents whose decoder rows are closest in cosine to latent `j`'s (W_dec [d_sae, d], row-major). */
export function decoderNeighbours(wDec: ArrayLike<number>, dSae: number, d: number, j: number, n = 10): { latent: number; cosine: number }[] {
  const norm = (r: number) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += wDec[r * d + c] ** 2;
    return Math.sqrt(s);
  };
  const nj = norm(j);
  const out: { latent: number; cosine: number }[] = [];
  for (let r = 0; r < dSae; r++) {
    if (r === j) continue;
    let dot = 0;
    for (let c = 0; c < d; c++) dot += wDec[r * d + c] * wDec[j * d + c];
    const nr = norm(r);
    out.push({ latent: r, cosine: nj > 0 && nr > 0 ? dot / (nj * nr) : 0 });
  }
  return out.sort((a, b) => b.cosine - a.cosine || a.latent - b.latent).slice(0, n);
}
