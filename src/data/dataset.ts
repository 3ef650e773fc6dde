// Datasets held in memory: parsing an activation file into one, the seeded train/validation split,
// summary statistics, and the shuffled batch sampler the trainer draws from.
import { ConfigError, type SaeConfig, type SplitBy } from '../engine/config';
import { createRng, permutation } from '../engine/rng';
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
  /** Residual sites of a language model (0 … n_layers) that each layer was recorded at, when known. */
  sites?: number[];
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
  return { ...ds, nLayers: L, data, description: `${ds.description}, ${which}`, sites: ds.sites?.slice(first, last + 1) };
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

/** Row classes of a split. */
export const TRAIN = 0;
export const VAL = 1;
export const EXCLUDED = 2;

/**
 * The class of every dataset row: TRAIN, VAL or EXCLUDED. Split by rows: a seeded sample of rows
 * (or of `block`-row blocks, for streamed files, so validation reads are contiguous); split by
 * document: whole documents, drawn in seeded order until the validation share is reached.
 */
export function splitRows(rows: number, cfg: Pick<SaeConfig, 'val_fraction' | 'seed' | 'split_by'>, opts: { docIds?: Int32Array; exclude?: Uint32Array; block?: number; maxVal?: number }): Uint8Array {
  const cls = new Uint8Array(rows); // TRAIN
  if (opts.exclude) for (const r of opts.exclude) cls[r] = EXCLUDED;
  let usable = 0;
  for (let r = 0; r < rows; r++) if (cls[r] !== EXCLUDED) usable++;
  if (usable < 2) throw new Error(`only ${usable} row(s) are left after excluding outliers; training needs at least 2.`);
  if (cfg.val_fraction <= 0) return cls;
  const want = Math.min(opts.maxVal ?? Infinity, usable - 1, Math.max(1, Math.round(cfg.val_fraction * usable)));
  const rng = createRng(cfg.seed);
  let taken = 0;
  if (cfg.split_by === 'document') {
    const docIds = opts.docIds;
    if (!docIds) throw new ConfigError('split_by "document" needs the document id of every row: drop a doc_ids .npy (int, one per activation row) with the activations, or split by rows.');
    const docs = [...new Set(docIds)];
    if (docs.length < 2) throw new ConfigError(`split_by "document" needs at least 2 documents, but every row has document id ${docs[0]}; split by rows instead.`);
    const order = permutation(docs.length, rng);
    const valDocs = new Set<number>();
    const sizes = new Map<number, number>();
    docIds.forEach((d, r) => { if (cls[r] !== EXCLUDED) sizes.set(d, (sizes.get(d) ?? 0) + 1); });
    // Whole documents until the share is reached; never every document.
    for (let i = 0; i < order.length - 1 && taken < want; i++) {
      const d = docs[order[i]];
      valDocs.add(d);
      taken += sizes.get(d) ?? 0;
    }
    docIds.forEach((d, r) => { if (cls[r] !== EXCLUDED && valDocs.has(d)) cls[r] = VAL; });
    return cls;
  }
  const block = opts.block ?? 1;
  const blocks = Math.ceil(rows / block);
  const order = permutation(blocks, rng);
  for (let i = 0; i < blocks && taken < want; i++) {
    const b = order[i];
    for (let r = b * block; r < Math.min(rows, (b + 1) * block) && taken < want; r++) {
      if (cls[r] === EXCLUDED) continue;
      cls[r] = VAL;
      taken++;
    }
  }
  return cls;
}

/** Gather the rows of a class from an in-memory dataset, in the order of `order` (or row order). */
function gather(ds: Dataset, cls: Uint8Array, which: number, order: Uint32Array): { data: Float32Array; ids: Uint32Array } {
  const width = ds.dIn * ds.nLayers;
  const ids = order.filter((r) => cls[r] === which);
  const data = new Float32Array(ids.length * width);
  ids.forEach((r, i) => data.set(ds.data.subarray(r * width, (r + 1) * width), i * width));
  return { data, ids };
}

export interface SplitOptions {
  splitBy?: SplitBy;
  /** Document id of every row (for splitBy 'document'). */
  docIds?: Int32Array;
  /** Rows left out of both sides (outliers). */
  exclude?: Uint32Array;
}

/**
 * Train and validation rows in a seeded shuffled order: round(valFraction · rows) (≥ 1 when asked)
 * validation rows by `splitRows`, the rest train.
 */
export function splitDataset(ds: Dataset, valFraction: number, seed: number, opts: SplitOptions = {}): Split {
  const cls = splitRows(ds.rows, { val_fraction: valFraction, seed, split_by: opts.splitBy ?? 'rows' }, { docIds: opts.docIds, exclude: opts.exclude });
  const order = permutation(ds.rows, createRng(seed));
  const train = gather(ds, cls, TRAIN, order);
  const val = gather(ds, cls, VAL, order);
  return { train: train.data, trainRows: train.ids.length, val: val.data, valRows: val.ids.length, dIn: ds.dIn, nLayers: ds.nLayers, trainIds: train.ids, valIds: val.ids };
}

export { BatchSampler, type SamplerState } from '../engine/batchSampler';
