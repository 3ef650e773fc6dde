// The built-in sample: activations with planted ground truth, so a user can check that an SAE
// recovers known features. x = Σ_i c_i · d_i + offset + noise, with d_i random unit vectors and
// sparse non-negative codes c_i.
import { createRng } from '../engine/rng';
import type { Dataset } from './dataset';

export interface SyntheticOptions {
  rows?: number;
  dIn?: number;
  nFeatures?: number;
  /** Expected number of active features per row. */
  activePerRow?: number;
  noise?: number;
  seed?: number;
}

export function makeSyntheticDataset(opts: SyntheticOptions = {}): Dataset {
  const rows = opts.rows ?? 32768;
  const d = opts.dIn ?? 64;
  const nF = opts.nFeatures ?? 256;
  const active = opts.activePerRow ?? 5;
  const noise = opts.noise ?? 0.02;
  const rng = createRng(opts.seed ?? 0);
  const p = active / nF;

  const dictionary = new Float32Array(nF * d); // [nF, d], unit rows
  for (let i = 0; i < nF; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) { const v = rng.normal(); dictionary[i * d + j] = v; norm += v * v; }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) dictionary[i * d + j] /= norm;
  }
  // A fixed offset so the data mean is not zero (b_dec has something to learn).
  const offset = new Float32Array(d);
  for (let j = 0; j < d; j++) offset[j] = rng.normal() / Math.sqrt(d);

  const data = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * d, (r + 1) * d);
    row.set(offset);
    for (let i = 0; i < nF; i++) {
      if (rng.next() >= p) continue;
      const c = 1 + Math.abs(rng.normal()) * 1.5; // well above 0: a planted feature is clearly on
      for (let j = 0; j < d; j++) row[j] += c * dictionary[i * d + j];
    }
    for (let j = 0; j < d; j++) row[j] += noise * rng.normal();
  }
  return {
    name: 'sample (synthetic)',
    rows,
    dIn: d,
    nLayers: 1,
    data,
    dtype: 'synthetic',
    description: `Synthetic: ${nF} planted unit features in R^${d}, ~${active} active per row (magnitude 1 + 1.5·|N(0,1)|), noise σ ${noise}`,
    groundTruth: { nFeatures: nF, dictionary },
  };
}

/**
 * Several "layers" of the same tokens: layer l holds `base`'s rows with their columns rotated by
 * 3·l and scaled by 1 + 0.5·l, so each layer sees the planted code differently (the multi-layer
 * variants' tests train on it). Rows are layer-major, [N, L, d] as a multi-layer .npy loads.
 */
export function makeLayeredDataset(base: Dataset, layers: number): Dataset {
  const L = layers, d = base.dIn, N = base.rows;
  const data = new Float32Array(N * L * d);
  for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) for (let j = 0; j < d; j++) {
    data[(n * L + l) * d + j] = base.data[n * d + ((j + 3 * l) % d)] * (1 + 0.5 * l);
  }
  return { name: 'layers', rows: N, dIn: d, nLayers: L, data, dtype: 'float32', description: `${L} rotated layers of ${base.name}` };
}
