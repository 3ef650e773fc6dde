// What a finished run leaves to be kept, made by its RunSession (src/run/session.ts): the config it
// started with, its final state and metrics, its whole log, the data it trained on and its last
// loss recovered. The page stores it with the weights among the kept runs (src/store/runHistory.ts).
import type { SaeConfig } from '../engine/config';
import type { EvalMetrics, MetricRow } from '../engine/types';
import type { SpliceEvaluation } from '../data/languageModel';
import type { DatasetInfo } from '../data/types';

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

/** A finished (or stopped) run, as its session saw it. */
export interface RunOutcome {
  runId: string;
  /** The config the run started with (live changes are in the log's columns and events). */
  config: SaeConfig;
  state: 'done' | 'stopped';
  /** Metrics on the validation split at the end. */
  metrics: EvalMetrics;
  /** Every logged step. */
  rows: MetricRow[];
  /** The data it trained on (not whatever is loaded by the time it is kept). */
  data: RunData;
  /** The last loss recovered measured while it trained, or null. */
  splice: RunSplice | null;
}

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

