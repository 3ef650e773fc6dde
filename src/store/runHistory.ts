// Kept runs: every finished run's config, log, final metrics and weights, for the session and, in
// IndexedDB, across reloads. The list (config, metrics, log) and the weights live in two object
// stores so that listing the runs never reads the weights. Where IndexedDB is unavailable (a
// private window, a full quota) the runs are kept for the session only and the reason is shown.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { lambdaKey, type SaeConfig } from '../engine/config';
import type { DatasetInfo } from '../data/types';
import type { EvalMetrics, MetricRow } from '../engine/types';
import type { SpliceEvaluation } from '../data/languageModel';
import type { SweepParam } from './sweepParam';
import { targetHistory, targetInEffect } from './sparsityTarget';

/** Loss recovered of a run in the language model, averaged over its splice groups (layers). */
export interface RunSplice {
  loss_recovered: number;
  /** Its standard error (over documents), when the SAE was spliced at one group of sites; absent in older records. */
  loss_recovered_se?: number;
  /** Predictions judged, and where the SAE was spliced (absent in older records). */
  predictions?: number;
  hooks?: string[];
  loss_recovered_vs_mean: number;
  kl: number;
  ce: number;
  ce_clean: number;
  text: string;
}

export interface RunSweepTag {
  id: string;
  param: SweepParam;
  value: number;
  /** Position in the sweep (0-based) and its length. */
  index: number;
  count: number;
}

/** The activations a run was trained on: name (with the hook of extracted data) and shape. */
export interface RunData {
  name: string;
  rows: number;
  dIn: number;
  nLayers: number;
}

export const runDataOf = (d: Pick<DatasetInfo, 'name' | 'rows' | 'dIn' | 'nLayers'>): RunData => ({ name: d.name, rows: d.rows, dIn: d.dIn, nLayers: d.nLayers });

/**
 * Identifies the data: two files of one name but another shape are different data. Runs kept before
 * the shape was recorded have only their name.
 */
export function runDataKey(d: RunData | { name: string }): string {
  return 'rows' in d ? `${d.name}|${d.rows}|${d.nLayers}|${d.dIn}` : d.name;
}

/** "stories.txt @ blocks.3.hook_resid_pre (35,234 × 64)". */
export function describeRunData(d: RunData | { name: string }): string {
  if (!('rows' in d)) return d.name || 'unnamed data';
  const shape = d.nLayers > 1 ? `${d.rows.toLocaleString('en-US')} × ${d.nLayers} layers × ${d.dIn}` : `${d.rows.toLocaleString('en-US')} × ${d.dIn}`;
  return `${d.name} (${shape})`;
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

export function summariseSplice(e: SpliceEvaluation): RunSplice {
  const mean = (f: (g: SpliceEvaluation['groups'][number]) => number) => e.groups.reduce((a, g) => a + f(g), 0) / Math.max(1, e.groups.length);
  return {
    loss_recovered: mean((g) => g.loss_recovered),
    loss_recovered_vs_mean: mean((g) => g.loss_recovered_vs_mean),
    kl: mean((g) => g.kl),
    ce: mean((g) => g.ce),
    ce_clean: e.ce_clean,
    text: e.text,
    // A mean over several layers' figures has no simple standard error (the same documents judge each).
    ...(e.groups.length === 1 ? { loss_recovered_se: e.groups[0].loss_recovered_se } : {}),
    predictions: e.predictions,
    hooks: e.siteNames,
  };
}

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
