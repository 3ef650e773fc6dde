// The rows a run trains and validates on, from what the workspace holds and the run's config:
// the layers it uses, outlier rows left out on request, the validation split by rows or by
// document, and — for a file over the memory budget — a stream of batches from the file instead
// of an in-memory training array.
import { ConfigError, type SaeConfig } from '../engine/config';
import { createRng, permutation } from '../engine/rng';
import type { TrainingData } from '../engine/trainer';
import { selectLayers, type Dataset } from './dataset';
import { EXCLUDED, StreamSampler, TRAIN, VAL, gatherRows } from './streaming';
import { Workspace, WorkspaceError, isStreamed } from './workspace';

/** Validation rows kept in memory for a streamed file (a sample is enough for the metrics). */
export const MAX_STREAMED_VAL_ROWS = 65_536;
/** Training rows read into memory from a streamed file for the normalisation fit, init and resampling. */
export const STREAM_SAMPLE_ROWS = 16_384;
/** Rows per chunk of a streamed read, and per validation block of a streamed split by rows. */
const CHUNK_BYTES = 4 * 2 ** 20;

export interface TrainingDataOptions {
  onProgress?: (label: string, done: number, total: number) => void;
}

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
  if (usable < 2) throw new WorkspaceError(`only ${usable} row(s) are left after excluding outliers; training needs at least 2.`);
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

export async function trainingDataFor(ws: Workspace, cfg: SaeConfig, opts: TrainingDataOptions = {}): Promise<TrainingData> {
  const full = ws.dataset;
  if (!full) throw new WorkspaceError('no data is loaded; load the sample or drop an activation file first.');
  const exclude = cfg.exclude_outliers ? ws.facts?.outlierRows : undefined;
  const docIds = ws.docIds?.ids;
  const [first, last] = Workspace.layersFor(cfg, full.nLayers);
  if (!isStreamed(full)) {
    const ds = full.nLayers === 1 ? full : selectLayers(full, first, last);
    const cls = splitRows(ds.rows, cfg, { docIds, exclude });
    // Rows in a seeded order (as the in-memory shuffle always was), then taken by class.
    const order = permutation(ds.rows, createRng(cfg.seed));
    const train = gather(ds, cls, TRAIN, order);
    const val = gather(ds, cls, VAL, order);
    return { train: train.data, trainRows: train.ids.length, trainIds: train.ids, val: val.data, valRows: val.ids.length, valIds: val.ids, dIn: ds.dIn, nLayers: ds.nLayers, groundTruth: ds.groundTruth, totalRows: ds.rows };
  }
  const source = full.source.nLayers === 1 ? full.source : full.source.withLayers(first, last);
  const width = source.dIn * source.nLayers;
  const chunkRows = Math.max(1, Math.floor(CHUNK_BYTES / (width * 4)));
  const cls = splitRows(source.rows, cfg, { docIds, exclude, block: Math.min(chunkRows, 4096), maxVal: MAX_STREAMED_VAL_ROWS });
  const val = await gatherRows(source, cls, VAL, chunkRows, MAX_STREAMED_VAL_ROWS, (done, total) => opts.onProgress?.('reading validation rows', done, total));
  // A sample of training rows: a few random chunks' worth.
  const sampleCls = new Uint8Array(source.rows).fill(EXCLUDED);
  const rng = createRng(cfg.seed + 3);
  let picked = 0;
  const chunks = Math.ceil(source.rows / chunkRows);
  const sampleBlock = Math.max(1, Math.min(chunkRows, 256));
  for (let tries = 0; picked < STREAM_SAMPLE_ROWS && tries < 4 * chunks + 64; tries++) {
    const start = rng.int(Math.max(1, source.rows - sampleBlock + 1));
    for (let r = start; r < Math.min(source.rows, start + sampleBlock); r++) if (cls[r] === TRAIN && sampleCls[r] !== TRAIN) { sampleCls[r] = TRAIN; picked++; }
  }
  const sample = await gatherRows(source, sampleCls, TRAIN, chunkRows, STREAM_SAMPLE_ROWS);
  // The shuffle buffer takes a quarter of the memory budget (at most 256 MiB): the rest is for the
  // validation rows, the sample, the model and the backend.
  const bufferRows = Math.max(cfg.batch_size * 4, Math.floor(Math.min(ws.memoryBudgetBytes / 4, 256 * 2 ** 20) / (width * 4)));
  const stream = new StreamSampler(source, cls, { batchSize: cfg.batch_size, seed: cfg.seed + 1, chunkRows, bufferRows });
  return {
    train: sample.data, trainRows: sample.ids.length, trainIds: sample.ids,
    val: val.data, valRows: val.ids.length, valIds: val.ids,
    dIn: source.dIn, nLayers: source.nLayers, totalRows: source.rows,
    stream,
  };
}
