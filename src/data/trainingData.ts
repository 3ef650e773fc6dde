// The rows a run trains and validates on, from what the workspace holds and the run's config:
// the layers it uses, outlier rows left out on request, the validation split by rows or by
// document, and — for a file over the memory budget — a stream of batches from the file instead
// of an in-memory training array.
import type { SaeConfig } from '../engine/config';
import { createRng } from '../engine/rng';
import { Trainer, type TrainingData } from '../engine/trainer';
import type { EvalMetrics } from '../engine/types';
import { EXCLUDED, TRAIN, VAL, selectLayers, splitDataset, splitRows } from './dataset';
import { StreamSampler, gatherRows } from './streaming';
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

export async function trainingDataFor(ws: Workspace, cfg: SaeConfig, opts: TrainingDataOptions = {}): Promise<TrainingData> {
  const full = ws.dataset;
  if (!full) throw new WorkspaceError('no data is loaded; load the sample or drop an activation file first.');
  const exclude = cfg.exclude_outliers ? ws.facts?.outlierRows : undefined;
  const docIds = ws.docIds?.ids;
  const [first, last] = Workspace.layersFor(cfg, full.nLayers);
  if (!isStreamed(full)) {
    const ds = full.nLayers === 1 ? full : selectLayers(full, first, last);
    return { ...splitDataset(ds, cfg.val_fraction, cfg.seed, { splitBy: cfg.split_by, docIds, exclude }), groundTruth: ds.groundTruth, totalRows: ds.rows };
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

/**
 * Metrics of saved weights (an imported SAE) under `cfg` on the loaded data: its validation split,
 * or with `allRows` every row of an in-memory dataset (a streamed one is always judged on its
 * validation split). No step is trained, so steps and tokens/s are 0.
 */
export async function evaluateWeights(ws: Workspace, cfg: SaeConfig, tensors: Record<string, { shape: number[]; data: Float32Array }>, backend: string, opts: { allRows?: boolean } = {}): Promise<EvalMetrics> {
  const full = ws.dataset;
  if (!full) throw new WorkspaceError('load activations to evaluate the SAE on.');
  let data: TrainingData;
  if (opts.allRows && !isStreamed(full)) {
    const ds = ws.datasetFor(cfg);
    data = { train: ds.data, trainRows: ds.rows, val: ds.data, valRows: ds.rows, dIn: ds.dIn, nLayers: ds.nLayers };
  } else data = await trainingDataFor(ws, cfg);
  return withWeights(cfg, data, tensors, backend, async (trainer) => {
    const { metrics } = await trainer.evaluate();
    return { ...metrics, steps: 0, tokens_per_s: 0 };
  });
}

/** A trainer that only holds saved weights (SAELens names) under `cfg`, for `use`, then disposed. */
export async function withWeights<T>(cfg: SaeConfig, data: TrainingData, tensors: Record<string, { shape: number[]; data: Float32Array }>, backend: string, use: (trainer: Trainer) => Promise<T>): Promise<T> {
  const trainer = new Trainer(cfg, data, backend);
  try {
    trainer.loadTensors(tensors);
    return await use(trainer);
  } finally {
    trainer.dispose();
  }
}
