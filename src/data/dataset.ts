// Datasets held in memory: parsing an activation file into one, the seeded train/validation split,
// summary statistics, and the shuffled batch sampler the trainer draws from.
import { createRng, permutation, type Rng } from '../engine/rng';
import { NpyError, checkFinite, parseNpy, toFloat32Matrix, type NpyArray } from '../io/npy';

export interface Dataset {
  name: string;
  rows: number;
  /** Width of one activation vector (one layer). */
  dIn: number;
  /** Layers per row: 1 for [N, d] files; L for [L, N, d] files, stored per row as [L·dIn], layer-major. */
  nLayers: number;
  /** Row-major [rows, nLayers·dIn]. */
  data: Float32Array;
  /** dtype of the source ('float32', 'float16', 'float64' or 'synthetic'). */
  dtype: string;
  description: string;
  /** Planted features of a synthetic dataset. */
  groundTruth?: { nFeatures: number; dictionary: Float32Array /* [nFeatures, dIn], unit rows */ };
}

export function datasetFromNpy(buffer: ArrayBuffer, name: string): Dataset {
  return datasetFromArray(parseNpy(buffer, name), name);
}

/** A dataset from an already parsed .npy array ([N, d] or [L, N, d]). */
export function datasetFromArray(arr: NpyArray, name: string): Dataset {
  if (arr.shape.length === 3) return multiLayerDataset(arr, name);
  const m = toFloat32Matrix(arr, name);
  if (m.rows < 2) throw new NpyError(`${name} has only ${m.rows} row; training needs at least 2 activation rows (a validation split is held out).`);
  const bad = checkFinite(m.data, m.cols);
  if (bad.badRows > 0) {
    throw new NpyError(`${name} has ${bad.badRows} row(s) containing NaN or Inf (the first is row ${bad.firstBadRow}); remove them, e.g. acts[np.isfinite(acts).all(axis=1)], and save again.`);
  }
  return { name, rows: m.rows, dIn: m.cols, nLayers: 1, data: m.data, dtype: arr.dtype, description: `${arr.dtype} [${m.rows}, ${m.cols}] from ${name}` };
}

/**
 * An [L, N, d] file (several layers' activations of the same N tokens) becomes N rows of L·d,
 * layer-major, so that one batch row carries every layer of one token.
 */
function multiLayerDataset(arr: NpyArray, name: string): Dataset {
  const [L, N, d] = arr.shape;
  const flat = toFloat32Matrix({ ...arr, shape: [L * N, d] }, name);
  if (N < 2) throw new NpyError(`${name} has only ${N} token row per layer; training needs at least 2.`);
  const data = new Float32Array(N * L * d);
  for (let l = 0; l < L; l++) for (let n = 0; n < N; n++) data.set(flat.data.subarray((l * N + n) * d, (l * N + n + 1) * d), (n * L + l) * d);
  const bad = checkFinite(data, L * d);
  if (bad.badRows > 0) {
    throw new NpyError(`${name} has ${bad.badRows} token(s) with NaN or Inf in some layer (the first is token ${bad.firstBadRow}); remove them and save again.`);
  }
  return { name, rows: N, dIn: d, nLayers: L, data, dtype: arr.dtype, description: `${arr.dtype} [${L}, ${N}, ${d}] (${L} layers) from ${name}` };
}

/** The rows restricted to layers first..last (inclusive) of a multi-layer dataset. */
export function selectLayers(ds: Dataset, first: number, last: number): Dataset {
  if (first === 0 && last === ds.nLayers - 1) return ds;
  const L = last - first + 1;
  const d = ds.dIn;
  const width = ds.nLayers * d;
  const data = new Float32Array(ds.rows * L * d);
  for (let r = 0; r < ds.rows; r++) data.set(ds.data.subarray(r * width + first * d, r * width + (last + 1) * d), r * L * d);
  const which = L === 1 ? `layer ${first}` : `layers ${first}–${last}`;
  return { ...ds, nLayers: L, data, description: `${ds.description}, ${which}` };
}

export interface Split {
  train: Float32Array;
  trainRows: number;
  val: Float32Array;
  valRows: number;
  dIn: number;
  nLayers: number;
  /** Dataset row index of each train / validation row (to look up labels and tokens). */
  trainIds: Uint32Array;
  valIds: Uint32Array;
}

/** Seeded shuffle of the rows; the first round(valFraction · rows) (≥ 1 when asked) are validation. */
export function splitDataset(ds: Dataset, valFraction: number, seed: number): Split {
  const order = permutation(ds.rows, createRng(seed));
  const valRows = valFraction > 0 && ds.rows >= 2 ? Math.min(ds.rows - 1, Math.max(1, Math.round(valFraction * ds.rows))) : 0;
  const trainRows = ds.rows - valRows;
  const d = ds.dIn * ds.nLayers;
  const val = new Float32Array(valRows * d);
  const train = new Float32Array(trainRows * d);
  for (let i = 0; i < ds.rows; i++) {
    const src = ds.data.subarray(order[i] * d, (order[i] + 1) * d);
    if (i < valRows) val.set(src, i * d);
    else train.set(src, (i - valRows) * d);
  }
  return { train, trainRows, val, valRows, dIn: ds.dIn, nLayers: ds.nLayers, trainIds: order.slice(valRows), valIds: order.slice(0, valRows) };
}

export interface Stats {
  meanRow: Float32Array;
  mean: number;
  std: number;
  meanNorm: number;
  min: number;
  max: number;
}

/** Summary statistics over all entries (float64 accumulation). */
export function computeStats(data: Float32Array, rows: number, dIn: number): Stats {
  const meanRow = new Float64Array(dIn);
  let sum = 0, sumSq = 0, normSum = 0, min = Infinity, max = -Infinity;
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let j = 0; j < dIn; j++) {
      const v = data[r * dIn + j];
      meanRow[j] += v; sum += v; sq += v * v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    sumSq += sq;
    normSum += Math.sqrt(sq);
  }
  const n = rows * dIn;
  const mean = sum / n;
  return {
    meanRow: Float32Array.from(meanRow, (m) => m / rows),
    mean,
    std: Math.sqrt(Math.max(0, sumSq / n - mean * mean)),
    meanNorm: normSum / rows,
    min,
    max,
  };
}

/** Batches of rows in a seeded shuffled order; every row once per epoch, reshuffled each epoch. */
export class BatchSampler {
  private readonly rng: Rng;
  private order: Uint32Array;
  private pos = 0;
  private epochs = 0;
  /** Indices (into the sampler's rows) of the last batch returned by next(). */
  readonly lastRows: Uint32Array;

  constructor(private readonly data: Float32Array, private readonly rows: number, private readonly dIn: number, private readonly batchSize: number, seed: number) {
    this.rng = createRng(seed);
    this.order = permutation(rows, this.rng);
    this.lastRows = new Uint32Array(batchSize);
  }

  get epoch(): number {
    return this.epochs;
  }

  /** A fresh [batchSize · width] array (width = the row width passed as dIn) (the caller hands it to tf.tensor). */
  next(): Float32Array {
    const d = this.dIn;
    const out = new Float32Array(this.batchSize * d);
    for (let b = 0; b < this.batchSize; b++) {
      if (this.pos >= this.rows) {
        this.order = permutation(this.rows, this.rng);
        this.pos = 0;
        this.epochs += 1;
      }
      const r = this.order[this.pos++];
      this.lastRows[b] = r;
      out.set(this.data.subarray(r * d, (r + 1) * d), b * d);
    }
    return out;
  }
}
