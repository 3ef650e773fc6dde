// The dataset from a dropped file's activation array (in memory or streamed).
// The file is read once: its statistics (src/data/stats.ts) are gathered while it is read or, for
// a file over the memory budget, while it is indexed for streaming (src/data/streaming.ts).
import type { ArrayLayout, FileIndex } from '../io/arrayFile';
import { readAllRows, readRangeOf, sourceFromLayout, type ActivationSource } from './source';
import { StatsAccumulator } from './stats';
import type { ArrayChoice, FileResult, SourceFile } from './types';
import { NonFiniteRowsError, WorkspaceError, count, isStreamed, mib, pickRows, shapeText, type AnyDataset, type LoadOptions, type RowFilter, type WorkspaceState } from './workspaceState';

/** Rows read per chunk while indexing a streamed file. */
const SCAN_CHUNK_BYTES = 8 * 2 ** 20;

/** The activation array of a dropped file, and every array of the file (for the UI's choice). */
export interface Candidate {
  file: SourceFile;
  index: FileIndex;
  layout: ArrayLayout;
  role: ArrayChoice['role'];
  choices: ArrayChoice[];
}

/** Read the candidate's activations, gather their statistics, and make them the workspace's dataset. */
export async function loadActivations(ws: WorkspaceState, c: Candidate, opts: LoadOptions): Promise<FileResult> {
  const { file, layout, index } = c;
  const name = file.name;
  if (layout.shape.length !== 2 && layout.shape.length !== 3) {
    throw new WorkspaceError(`${name}: ${layout.name} has shape ${shapeText(layout.shape)}; activations must be [N, d] (one row per token) or [L, N, d] (several layers). Reshape with array.reshape(-1, d).`);
  }
  const rows = layout.shape.length === 3 ? layout.shape[1] : layout.shape[0];
  const width = layout.shape.length === 3 ? layout.shape[0] * layout.shape[2] : layout.shape[1];
  if (rows === 0 || width === 0) throw new WorkspaceError(`${name} has shape ${shapeText(layout.shape)} and holds no activations.`);
  if (rows < 2) throw new WorkspaceError(`${name} has only ${rows} row; training needs at least 2 activation rows (a validation split is held out).`);
  const read = readRangeOf(file.blob);
  const memoryBytes = rows * width * 4;
  const streamed = memoryBytes > ws.memoryBudgetBytes && !layout.compressed;
  if (layout.compressed && memoryBytes > ws.memoryBudgetBytes) {
    throw new WorkspaceError(`${name}: ${layout.name} needs ${mib(memoryBytes)} in memory, over the ${mib(ws.memoryBudgetBytes)} budget, and is compressed (np.savez_compressed) so it cannot be streamed; re-save it with np.save or np.savez, or raise the memory budget.`);
  }
  const L = layout.shape.length === 3 ? layout.shape[0] : 1;
  const dIn = layout.shape.length === 3 ? layout.shape[2] : layout.shape[1];
  const label = index.arrays.length > 1 ? `${name}:${layout.name}` : name;
  const description = `${layout.dtype} ${shapeText(layout.shape)}${L > 1 ? ` (${L} layers)` : ''} from ${label}${streamed ? ', streamed from the file' : ''}`;
  const acc = new StatsAccumulator(rows, width);
  let ds: AnyDataset;
  if (!streamed) {
    opts.onProgress?.(`reading ${name}`, 0, layout.byteLength);
    const data = await readAllRows(layout, read);
    acc.add(data, 0);
    opts.onProgress?.(`reading ${name}`, layout.byteLength, layout.byteLength);
    ds = { name: label, rows, dIn, nLayers: L, data, dtype: layout.dtype, description };
  } else {
    const source = sourceFromLayout(name, layout, read);
    const chunk = Math.max(1, Math.floor(SCAN_CHUNK_BYTES / (width * 4)));
    for (let start = 0; start < rows; start += chunk) {
      const n = Math.min(chunk, rows - start);
      acc.add(await source.readRows(start, n), start);
      opts.onProgress?.(`indexing ${name}`, start + n, rows);
    }
    ds = { name: label, rows, dIn, nLayers: L, dtype: layout.dtype, description, source };
  }
  const { stats, outlierRows } = acc.finish();
  let rowFilter: RowFilter | null = null;
  let leftOut = '';
  if (acc.nonFiniteRows > 0) {
    // The accumulator gives a NaN norm to every row holding NaN or ±Inf.
    const bad: number[] = [];
    acc.norms.forEach((v, r) => { if (Number.isNaN(v)) bad.push(r); });
    const what = L > 1 ? `token row${bad.length === 1 ? '' : 's'} (with NaN or Inf in some layer)` : `row${bad.length === 1 ? '' : 's'}`;
    const which = `${count(bad.length)} ${what} (${bad.length === 1 ? 'row' : 'rows'} ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''})`;
    const left = rows - bad.length;
    if (left < 2) throw new WorkspaceError(`${name}: ${which} of ${count(rows)} contain NaN or Inf, so fewer than 2 rows are left to train on; the file is damaged or was written before its values were filled in. Dump the activations again.`);
    if (!file.options?.excludeNonFinite) {
      throw new NonFiniteRowsError(`${name}: ${which} contain NaN or Inf. Load the file without them ("Load without the ${count(bad.length)} rows with NaN/Inf" in the app, --exclude-nonfinite in the CLI; companion files are filtered to match), or remove them, e.g. acts[np.isfinite(acts).all(axis=1)] (and the same rows of the companions), and save again.`, bad.length);
    }
    const kept = keptRows(rows, bad);
    rowFilter = { file: name, fileRows: rows, kept };
    // Row numbers of the statistics are file rows: make them dataset rows.
    const toKept = (r: number) => r - lowerBound(bad, r);
    for (let i = 0; i < outlierRows.length; i++) outlierRows[i] = toKept(outlierRows[i]);
    for (const ex of stats.outliers.examples) ex.row = toKept(ex.row);
    const note = `${count(bad.length)} ${bad.length === 1 ? 'row' : 'rows'} with NaN or Inf left out (file ${bad.length === 1 ? 'row' : 'rows'} ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''})`;
    ds = isStreamed(ds)
      ? { ...ds, rows: kept.length, source: keepSourceRows(ds.source, kept), description: `${ds.description}, ${note}` }
      : { ...ds, rows: kept.length, data: pickRows(ds.data, kept, width), description: `${ds.description}, ${note}` };
    leftOut = ` — ${note}; companion files of ${count(rows)} rows are filtered to the ${count(kept.length)} kept`;
  }
  ws.setDataset(ds, { format: index.format, bytes: layout.byteLength, stats, outlierRows }, rowFilter);
  const n = ds.rows;
  const shape = L > 1 ? `${count(n)} × ${L} layers × ${dIn}` : `${count(n)} × ${dIn}`;
  const sae = ws.imported?.info;
  const saeNote = sae && sae.dIn !== dIn ? ` (the imported SAE takes d_in ${sae.dIn}, not ${dIn}: it cannot be evaluated on these rows; import an SAE trained on this layer)` : '';
  return {
    name, kind: 'activations',
    message: `loaded ${label}: ${shape} ${layout.dtype}${leftOut}${streamed ? ` — ${mib(layout.byteLength)} is over the ${mib(ws.memoryBudgetBytes)} memory budget, so training streams it from the file` : ''}${saeNote}`,
    choices: c.choices.length > 1 ? c.choices : undefined,
    chosen: layout.name,
  };
}

/** The rows 0 … rows − 1 not in `bad` (ascending). */
function keptRows(rows: number, bad: number[]): Uint32Array {
  const kept = new Uint32Array(rows - bad.length);
  let b = 0, k = 0;
  for (let r = 0; r < rows; r++) {
    if (b < bad.length && bad[b] === r) b++;
    else kept[k++] = r;
  }
  return kept;
}

/** How many of the ascending `sorted` are below `v`. */
function lowerBound(sorted: ArrayLike<number>, v: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A streamed file without its left-out rows: dataset row i is file row kept[i]. Each read takes
 * the runs of consecutive kept rows it spans, so skipping a few bad rows costs a few more reads.
 */
function keepSourceRows(source: ActivationSource, kept: Uint32Array): ActivationSource {
  return {
    ...source,
    rows: kept.length,
    async readRows(start, n) {
      const width = source.dIn * source.nLayers;
      const out = new Float32Array(n * width);
      let i = start;
      while (i < start + n) {
        let j = i + 1;
        while (j < start + n && kept[j] === kept[j - 1] + 1) j++;
        out.set(await source.readRows(kept[i], j - i), (i - start) * width);
        i = j;
      }
      return out;
    },
    withLayers(first, last) {
      return keepSourceRows(source.withLayers(first, last), kept);
    },
  };
}
