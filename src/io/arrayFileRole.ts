// What an array is by its content (activations, token ids, document ids, positions, labels).
import type { ArrayLayout } from './arrayFileTypes';

/**
 * What an array is by its content: floats with at least two dimensions > 1 are activations
 * ([N, d] / [L, N, d]; also a single row [1, d], so the loader can say why one row cannot train);
 * other 1-D-like floats/bools ([N], [N, 1], [1, N] named as labels) are labels, unless named as
 * token ids, document ids or positions (decoding those then says they must be integers); 1-D integers are
 * positions (each value the previous + 1, or back to the lowest value: 0, or 1 where BOS was
 * dropped; mostly +1 steps), document ids (never decreasing, with repeats) or token ids. [L, N]
 * integers are read from their first row (the caller checks that the rows are equal). Names decide
 * only between equally plausible readings: 0, 1, 2, … (one document, or one-token documents), only
 * 0/1 values (ids or labels), and too few values to tell.
 */
export function arrayRole(layout: Pick<ArrayLayout, 'name' | 'dtype' | 'shape'>, values?: Int32Array): 'activations' | 'tokens' | 'doc_ids' | 'positions' | 'labels' | 'other' {
  const { shape, dtype } = layout;
  const lower = layout.name.toLowerCase();
  const docName = /doc/.test(lower), posName = /pos/.test(lower), labelName = /label|^y$|target/.test(lower);
  const big = shape.filter((s) => s > 1).length;
  const isFloat = dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64';
  const isInt = dtype === 'int32' || dtype === 'int64' || dtype === 'uint8';
  if (isFloat) {
    const oneRow = shape.length === 2 && shape[0] === 1 && shape[1] > 1 && !labelName;
    if ((shape.length === 2 || shape.length === 3) && (big >= 2 || oneRow)) return 'activations';
    if (big > 1 || shape.length === 0) return 'other'; // 4-D and up: no reading of it is safe
    // Ids saved as floats by mistake: their role, so that decoding them says they must be integers.
    if (!labelName && /token|input_ids/.test(lower)) return 'tokens';
    if (!labelName && docName) return 'doc_ids';
    if (!labelName && /^pos|position/.test(lower)) return 'positions';
    return 'labels';
  }
  if (dtype === 'bool') return big <= 1 && shape.length >= 1 ? 'labels' : 'other';
  if (!isInt || shape.length === 0) return 'other';
  const perRowCopies = shape.length === 2 && big === 2; // [L, N] copies of the same ids
  if (big > 1 && !perRowCopies) return 'other';
  const N = Math.min(values?.length ?? 0, perRowCopies ? shape[1] : Infinity);
  if (!values || N < 2) return docName ? 'doc_ids' : posName ? 'positions' : labelName ? 'labels' : 'tokens';
  let min = Infinity, binary = true;
  for (let i = 0; i < N; i++) {
    min = Math.min(min, values[i]);
    if (values[i] !== 0 && values[i] !== 1) binary = false;
  }
  let plusOne = 0, repeats = 0, nonDecreasing = true, resetsToMin = true;
  for (let i = 1; i < N; i++) {
    const a = values[i - 1], b = values[i];
    if (b === a + 1) plusOne++;
    else if (b !== min) resetsToMin = false;
    if (b < a) nonDecreasing = false;
    if (b === a) repeats++;
  }
  const steps = N - 1;
  if (binary && labelName) return 'labels';
  if (plusOne === steps && docName) return 'doc_ids'; // 0, 1, 2, …: one-token documents
  if (resetsToMin && min <= 1 && plusOne >= 0.5 * steps) return 'positions';
  if (nonDecreasing && repeats >= 0.5 * steps) return 'doc_ids';
  if (nonDecreasing && docName) return 'doc_ids';
  return 'tokens';
}
