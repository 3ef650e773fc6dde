// The rows a trainer learns from: the TrainingData it is given, and the statistics its initialisation reads.
import type { DataStats } from './variants/types';

/** The rows the trainer learns from and evaluates on, row-major [rows, nLayers·dIn]. */
export interface TrainingData {
  train: Float32Array;
  trainRows: number;
  val: Float32Array;
  valRows: number;
  /** Width of one activation vector. */
  dIn: number;
  /** Layers per row (default 1). */
  nLayers?: number;
  /** Dataset row index of each train / validation row, to look up guidance labels. */
  trainIds?: Uint32Array;
  valIds?: Uint32Array;
  /** Planted features of a synthetic dataset [nFeatures, dIn], for feature recovery. */
  groundTruth?: { nFeatures: number; dictionary: Float32Array };
  /** Rows of the whole dataset (labels are indexed by dataset row). */
  totalRows?: number;
  /**
   * Batches streamed from a file larger than memory. `train` is then a sample of training rows
   * (for the normalisation fit, the initialisation and resampling), not the whole training set.
   */
  stream?: BatchStream;
}

/** Batches of raw rows from outside memory; `lastRows` are the dataset row ids of the last batch. */
export interface BatchStream {
  next(): Promise<Float32Array>;
  readonly lastRows: Uint32Array;
  readonly trainRows: number;
}

/** TrainingData as the trainer holds it: normalised, with nLayers filled in (Trainer.data). */
export type TrainerRows = Required<Pick<TrainingData, 'train' | 'val' | 'trainRows' | 'valRows' | 'dIn' | 'nLayers'>> & TrainingData;

export function computeDataStats(data: Float32Array, rows: number, dIn: number, nLayers = 1): DataStats {
  const width = dIn * nLayers;
  const mean = new Float64Array(width);
  let normSum = 0;
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let j = 0; j < width; j++) { const v = data[r * width + j]; mean[j] += v; sq += v * v; }
    normSum += Math.sqrt(sq / nLayers);
  }
  return { dIn, nLayers, mean: Float32Array.from(mean, (m) => m / rows), meanNorm: normSum / rows };
}
