// Training batches from a file larger than memory. The file is read in contiguous chunks, visited in
// a seeded random order each epoch; their training rows enter a shuffle buffer, and each batch takes
// rows uniformly at random out of it. Every training row therefore enters and leaves the buffer once
// per epoch (as with an in-memory shuffle), and rows of one chunk are spread over many batches. The
// next chunk is read while the current batches train, so the disk is rarely waited for.
import { createRng, permutation, type Rng } from '../engine/rng';
import { TRAIN } from './dataset';
import type { ActivationSource } from './source';

export interface StreamOptions {
  batchSize: number;
  seed: number;
  /** Rows per read from the file. */
  chunkRows: number;
  /** Rows the shuffle buffer holds before batches are drawn from it. */
  bufferRows: number;
}

export class StreamSampler {
  private readonly rng: Rng;
  private readonly width: number;
  private readonly chunks: Uint32Array;
  private order: Uint32Array;
  private pos = 0;
  private epochs = 0;
  private readonly buffer: Float32Array;
  private readonly bufferIds: Uint32Array;
  private fill = 0;
  private pending: Promise<{ rows: Float32Array; ids: Uint32Array }> | null = null;
  /** Dataset row ids of the last batch. */
  readonly lastRows: Uint32Array;
  /** Bytes read from the file so far. */
  bytesRead = 0;
  readonly trainRows: number;

  /** `rowClass[r]` is TRAIN, VAL or EXCLUDED for every dataset row; only TRAIN rows are drawn. */
  constructor(private readonly source: ActivationSource, private readonly rowClass: Uint8Array, private readonly opts: StreamOptions) {
    this.rng = createRng(opts.seed);
    this.width = source.dIn * source.nLayers;
    const nChunks = Math.ceil(source.rows / opts.chunkRows);
    const useful: number[] = [];
    let trainRows = 0;
    for (let c = 0; c < nChunks; c++) {
      let n = 0;
      for (let r = c * opts.chunkRows; r < Math.min(source.rows, (c + 1) * opts.chunkRows); r++) if (rowClass[r] === TRAIN) n++;
      if (n > 0) useful.push(c);
      trainRows += n;
    }
    if (trainRows === 0) throw new Error('the training split is empty; lower val_fraction or load a file with more rows.');
    this.trainRows = trainRows;
    this.chunks = Uint32Array.from(useful);
    this.order = permutation(this.chunks.length, this.rng);
    // The buffer never needs more than the whole training set.
    const capacity = Math.min(trainRows, Math.max(opts.bufferRows, opts.batchSize)) + opts.chunkRows;
    this.buffer = new Float32Array(capacity * this.width);
    this.bufferIds = new Uint32Array(capacity);
    this.lastRows = new Uint32Array(opts.batchSize);
  }

  get epoch(): number {
    return this.epochs;
  }

  /** Bytes this sampler holds in memory (the shuffle buffer). */
  get bufferBytes(): number {
    return this.buffer.byteLength;
  }

  private readChunk(): Promise<{ rows: Float32Array; ids: Uint32Array }> {
    if (this.pos >= this.order.length) {
      this.order = permutation(this.chunks.length, this.rng);
      this.pos = 0;
      this.epochs += 1;
    }
    const chunk = this.chunks[this.order[this.pos++]];
    const start = chunk * this.opts.chunkRows;
    const count = Math.min(this.source.rows, start + this.opts.chunkRows) - start;
    return this.source.readRows(start, count).then((data) => {
      this.bytesRead += data.byteLength;
      const keep: number[] = [];
      for (let i = 0; i < count; i++) if (this.rowClass[start + i] === TRAIN) keep.push(i);
      if (keep.length === count) return { rows: data, ids: Uint32Array.from(keep, (i) => start + i) };
      const rows = new Float32Array(keep.length * this.width);
      keep.forEach((i, j) => rows.set(data.subarray(i * this.width, (i + 1) * this.width), j * this.width));
      return { rows, ids: Uint32Array.from(keep, (i) => start + i) };
    });
  }

  private async refill(): Promise<void> {
    const target = Math.min(this.trainRows, Math.max(this.opts.bufferRows, this.opts.batchSize));
    while (this.fill < target) {
      const chunk = await (this.pending ?? this.readChunk());
      this.pending = this.readChunk(); // read ahead while the caller trains
      const n = chunk.ids.length;
      this.buffer.set(chunk.rows, this.fill * this.width);
      this.bufferIds.set(chunk.ids, this.fill);
      this.fill += n;
    }
  }

  /** The next batch [batchSize · width]; its dataset row ids are in `lastRows`. */
  async next(): Promise<Float32Array> {
    await this.refill();
    const w = this.width;
    const B = this.opts.batchSize;
    const out = new Float32Array(B * w);
    for (let b = 0; b < B; b++) {
      if (this.fill === 0) await this.refill();
      const i = this.rng.int(this.fill);
      out.set(this.buffer.subarray(i * w, (i + 1) * w), b * w);
      this.lastRows[b] = this.bufferIds[i];
      // Swap the last row into the hole: removal without replacement in O(width).
      const last = this.fill - 1;
      if (i !== last) {
        this.buffer.copyWithin(i * w, last * w, (last + 1) * w);
        this.bufferIds[i] = this.bufferIds[last];
      }
      this.fill = last;
    }
    return out;
  }
}

/**
 * Gather the rows of one class (e.g. the validation rows) into memory, reading only the chunks
 * that hold some, and at most `maxRows` of them.
 */
export async function gatherRows(source: ActivationSource, rowClass: Uint8Array, which: number, chunkRows: number, maxRows = Infinity, onProgress?: (done: number, total: number) => void): Promise<{ data: Float32Array; ids: Uint32Array }> {
  const width = source.dIn * source.nLayers;
  let total = 0;
  for (let r = 0; r < source.rows; r++) if (rowClass[r] === which) total++;
  total = Math.min(total, maxRows);
  const data = new Float32Array(total * width);
  const ids = new Uint32Array(total);
  let n = 0;
  for (let start = 0; start < source.rows && n < total; start += chunkRows) {
    const count = Math.min(chunkRows, source.rows - start);
    let any = false;
    for (let r = start; r < start + count; r++) if (rowClass[r] === which) { any = true; break; }
    if (!any) continue;
    const rows = await source.readRows(start, count);
    for (let i = 0; i < count && n < total; i++) {
      if (rowClass[start + i] !== which) continue;
      data.set(rows.subarray(i * width, (i + 1) * width), n * width);
      ids[n++] = start + i;
    }
    onProgress?.(n, total);
  }
  return { data, ids };
}
