// A run's logged metric rows, stored by column in Float64Arrays (8 bytes a value) instead of one
// object per row (~0.5–1 KB each once boxed). A run logs for hours; the page and the worker each
// keep its whole log, so this is what keeps their memory from growing with the run (issue 8 soak).
// Rows may differ in their columns (a guidance target added mid-run, a metric logged only every
// N steps): a column remembers which rows have it, so rows come back exactly as they were logged.
import type { MetricRow } from './types';

/** Plain data of a log (structured-clonable: IndexedDB, postMessage). */
export interface MetricLogData {
  length: number;
  /** Column name, its values (length ≥ `length`) and which rows have it (null = every row). */
  columns: [name: string, values: Float64Array, present: Uint8Array | null][];
}

interface Column {
  values: Float64Array;
  /** 1 where the row has this column; null while every row so far has it. */
  present: Uint8Array | null;
}

const INITIAL_CAPACITY = 256;

export class MetricLog {
  private cols = new Map<string, Column>();
  private n = 0;
  private capacity = INITIAL_CAPACITY;

  static fromRows(rows: readonly MetricRow[]): MetricLog {
    const log = new MetricLog();
    log.append(rows);
    return log;
  }

  static fromData(d: MetricLogData): MetricLog {
    const log = new MetricLog();
    log.capacity = Math.max(INITIAL_CAPACITY, d.length);
    log.n = d.length;
    for (const [name, values, present] of d.columns) {
      const v = new Float64Array(log.capacity);
      v.set(values.subarray(0, d.length));
      let p: Uint8Array | null = null;
      if (present) { p = new Uint8Array(log.capacity); p.set(present.subarray(0, d.length)); }
      log.cols.set(name, { values: v, present: p });
    }
    return log;
  }

  get length(): number {
    return this.n;
  }

  /** Column names in order of first appearance. */
  columnNames(): string[] {
    return [...this.cols.keys()];
  }

  append(rows: readonly MetricRow[]): void {
    if (!rows.length) return;
    this.reserve(this.n + rows.length);
    for (const row of rows) {
      const i = this.n++;
      let seen = 0;
      for (const key in row) {
        let col = this.cols.get(key);
        if (!col) {
          // A column that starts part-way: the rows before lack it.
          col = { values: new Float64Array(this.capacity).fill(NaN), present: i > 0 ? new Uint8Array(this.capacity) : null };
          this.cols.set(key, col);
        }
        col.values[i] = row[key];
        if (col.present) col.present[i] = 1;
        seen++;
      }
      if (seen < this.cols.size) {
        for (const [key, col] of this.cols) {
          if (key in row) continue;
          if (!col.present) { col.present = new Uint8Array(this.capacity); col.present.fill(1, 0, i); }
          col.values[i] = NaN;
        }
      }
    }
  }

  /** Keep the first `length` rows. */
  truncate(length: number): void {
    this.n = Math.max(0, Math.min(this.n, length));
    for (const col of this.cols.values()) {
      if (col.present) col.present.fill(0, this.n);
    }
  }

  /** Keep the rows logged at or before `step`. */
  truncateToStep(step: number): void {
    const steps = this.column('step');
    let keep = this.n;
    while (keep > 0 && steps[keep - 1] > step) keep--;
    this.truncate(keep);
  }

  clear(): void {
    this.cols.clear();
    this.n = 0;
    this.capacity = INITIAL_CAPACITY;
  }

  /** The values of a column for every row (NaN where a row lacks it); a view, valid until the next append. */
  column(name: string): Float64Array {
    const col = this.cols.get(name);
    return col ? col.values.subarray(0, this.n) : new Float64Array(this.n).fill(NaN);
  }

  row(i: number): MetricRow {
    const out: Record<string, number> = {};
    for (const [name, col] of this.cols) {
      if (!col.present || col.present[i] === 1) out[name] = col.values[i];
    }
    return out as MetricRow;
  }

  last(): MetricRow | null {
    return this.n ? this.row(this.n - 1) : null;
  }

  /** Rows [from, to) as objects (for exports and one-off passes, not to keep). */
  toRows(from = 0, to = this.n): MetricRow[] {
    const out: MetricRow[] = [];
    for (let i = Math.max(0, from); i < Math.min(to, this.n); i++) out.push(this.row(i));
    return out;
  }

  /** Rows [from, to) as plain data, trimmed to their length (what an autosave stores). */
  toData(from = 0, to = this.n): MetricLogData {
    const a = Math.max(0, from), b = Math.max(a, Math.min(to, this.n));
    const columns: MetricLogData['columns'] = [];
    for (const [name, col] of this.cols) {
      const present = col.present ? col.present.slice(a, b) : null;
      // A column none of these rows has is left out.
      if (present && !present.includes(1)) continue;
      columns.push([name, col.values.slice(a, b), present && !present.includes(0) ? null : present]);
    }
    return { length: b - a, columns };
  }

  /** Bytes held (capacity, not length: what the heap pays). */
  get byteLength(): number {
    let bytes = 0;
    for (const col of this.cols.values()) bytes += col.values.byteLength + (col.present?.byteLength ?? 0);
    return bytes;
  }

  private reserve(size: number): void {
    if (size <= this.capacity) return;
    let cap = this.capacity;
    while (cap < size) cap *= 2;
    for (const col of this.cols.values()) {
      const v = new Float64Array(cap);
      v.set(col.values.subarray(0, this.n));
      col.values = v;
      if (col.present) {
        const p = new Uint8Array(cap);
        p.set(col.present.subarray(0, this.n));
        col.present = p;
      }
    }
    this.capacity = cap;
  }
}

/** Concatenate pieces of a log (rows `from` onwards of each, later pieces overwriting earlier rows). */
export function assembleLog(pieces: readonly { from: number; data: MetricLogData }[], length: number): MetricLog {
  const log = new MetricLog();
  const sorted = [...pieces].sort((a, b) => a.from - b.from);
  for (const { from, data } of sorted) {
    if (from > log.length) break; // a gap: the rows after it cannot be placed
    log.truncate(from);
    log.append(MetricLog.fromData(data).toRows());
  }
  log.truncate(length);
  return log;
}
