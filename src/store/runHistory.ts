// Kept runs: every finished run's config, log, final metrics and weights, for the session and, in
// IndexedDB, across reloads. The list (config, metrics, log) and the weights live in two object
// stores so that listing the runs never reads the weights. Where IndexedDB is unavailable (a
// private window, a full quota) the runs are kept for the session only and the reason is shown.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { lambdaKey, type SaeConfig } from '../engine/config';
import type { EvalMetrics, MetricRow } from '../engine/types';
import type { SweepParam } from './sweepParam';
import { targetHistory, targetInEffect } from './sparsityTarget';
import type { RunData, RunSplice } from '../run/runRecord';

// Where these live now (the run layer makes them); re-exported for the page's code.
export { describeRunData, runDataKey, runDataOf, summariseSplice, type RunData, type RunOutcome, type RunSplice } from '../run/runRecord';

export interface RunSweepTag {
  id: string;
  param: SweepParam;
  value: number;
  /** Position in the sweep (0-based) and its length. */
  index: number;
  count: number;
}

/** The data of a kept run (its name only for runs kept before the shape was recorded). */
export const recordData = (r: Pick<RunRecord, 'datasetName' | 'data'>): RunData | { name: string } => r.data ?? { name: r.datasetName };

export interface RunRecord {
  id: string;
  /** Sequential number shown to the user (#1, #2, …). */
  number: number;
  createdAt: number;
  datasetName: string;
  /** Name and shape of the training data (absent in runs kept by older versions). */
  data?: RunData;
  config: SaeConfig;
  state: 'done' | 'stopped';
  /** Metrics on the validation split at the end of the run. */
  metrics: EvalMetrics;
  splice: RunSplice | null;
  sweep: RunSweepTag | null;
  /** The training log (every logged step). */
  rows: MetricRow[];
  /** Bytes of the kept SAELens files (0 when the weights could not be kept). */
  weightBytes: number;
}

export interface RunWeights {
  id: string;
  files: Record<string, ArrayBuffer>;
}

interface RunsDb extends DBSchema {
  runs: { key: string; value: RunRecord };
  weights: { key: string; value: RunWeights };
}

const DB_NAME = 'sae-workbench';
const DB_VERSION = 1;

/** The target L0 in effect at the end of a kept run (a slider may have moved it), or null. */
export function finalTarget(r: Pick<RunRecord, 'config' | 'rows'>): number | null {
  return targetInEffect(targetHistory(r.config, r.rows.map((row) => row.step), r.rows.map((row) => row.target_l0)));
}

/** A short name: variant, size, the sweep's value or the sparsity setting. */
export function runLabel(r: Pick<RunRecord, 'number' | 'config' | 'sweep' | 'rows'>): string {
  const c = r.config;
  const parts = [`#${r.number}`, c.architecture, `d_sae ${c.d_sae}`];
  const target = finalTarget(r);
  if (r.sweep && r.sweep.param !== 'd_sae') parts.push(`${r.sweep.param === 'lambda' ? 'λ' : r.sweep.param} ${formatValue(r.sweep.value)}`);
  else if (target !== null) parts.push(`target L0 ${formatValue(target * 100)}%${target !== c.target_l0 ? ` (moved from ${formatValue(c.target_l0 * 100)}%)` : ''}`);
  else {
    const key = lambdaKey(c.architecture);
    const lambda = key ? (c as unknown as Record<string, number>)[key] : undefined;
    if (lambda !== undefined) parts.push(`λ ${formatValue(lambda)}`);
    else if ('k' in c) parts.push(`k ${c.k}`);
  }
  return parts.join(' · ');
}

function formatValue(v: number): string {
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(4))) : v.toExponential(2);
}

/**
 * The kept runs. `open()` returns the runs stored by earlier sessions; `save` keeps a run in memory
 * at once and in IndexedDB when it can.
 */
export class RunHistory {
  private db: IDBPDatabase<RunsDb> | null = null;
  /** Weights of runs that could not be stored (session only). */
  private readonly sessionWeights = new Map<string, Record<string, ArrayBuffer>>();
  /** Why runs are not kept across reloads, or null when they are. */
  problem: string | null = null;

  async open(): Promise<RunRecord[]> {
    if (typeof indexedDB === 'undefined') {
      this.problem = 'this browser offers no IndexedDB, so runs are kept for this session only';
      return [];
    }
    try {
      this.db = await openDB<RunsDb>(DB_NAME, DB_VERSION, {
        upgrade(db) {
          db.createObjectStore('runs', { keyPath: 'id' });
          db.createObjectStore('weights', { keyPath: 'id' });
        },
      });
      const runs = await this.db.getAll('runs');
      return runs.sort((a, b) => a.createdAt - b.createdAt);
    } catch (e) {
      this.db = null;
      this.problem = `runs are kept for this session only: IndexedDB failed (${e instanceof Error ? e.message : String(e)})`;
      return [];
    }
  }

  /** Keep a run; resolves to a problem in words when it could not be stored across reloads. */
  async save(record: RunRecord, files: Record<string, ArrayBuffer> | null): Promise<string | null> {
    if (files) this.sessionWeights.set(record.id, files);
    if (!this.db) return this.problem;
    try {
      const tx = this.db.transaction(['runs', 'weights'], 'readwrite');
      await Promise.all([
        tx.objectStore('runs').put(record),
        files ? tx.objectStore('weights').put({ id: record.id, files }) : Promise.resolve(),
        tx.done,
      ]);
      this.sessionWeights.delete(record.id);
      return null;
    } catch (e) {
      const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      return /quota/i.test(why)
        ? `run #${record.number} is kept for this session only: the browser's storage quota is full (delete old runs to make room)`
        : `run #${record.number} is kept for this session only: ${why}`;
    }
  }

  /** Replace a kept run's metadata (e.g. when it was spliced into the language model later). */
  async update(record: RunRecord): Promise<void> {
    if (!this.db) return;
    try { await this.db.put('runs', record); } catch { /* kept in memory; the next save reports storage problems */ }
  }

  async weights(id: string): Promise<Record<string, ArrayBuffer> | null> {
    const inSession = this.sessionWeights.get(id);
    if (inSession) return inSession;
    if (!this.db) return null;
    return (await this.db.get('weights', id))?.files ?? null;
  }

  async delete(id: string): Promise<void> {
    this.sessionWeights.delete(id);
    if (!this.db) return;
    const tx = this.db.transaction(['runs', 'weights'], 'readwrite');
    await Promise.all([tx.objectStore('runs').delete(id), tx.objectStore('weights').delete(id), tx.done]);
  }

  async clear(): Promise<void> {
    this.sessionWeights.clear();
    if (!this.db) return;
    const tx = this.db.transaction(['runs', 'weights'], 'readwrite');
    await Promise.all([tx.objectStore('runs').clear(), tx.objectStore('weights').clear(), tx.done]);
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}
