// Logged metric rows live outside React state: charts subscribe to appends directly, so a metrics
// tick never re-renders the component tree (ARCHITECTURE.md). The rows are kept by column (MetricLog),
// not as objects, so a long run does not grow the page's heap by a kilobyte per logged row.
import { MetricLog } from '../engine/metricLog';
import type { MetricRow } from '../engine/types';

type Listener = (appended: readonly MetricRow[]) => void;

const log = new MetricLog();
/** Changes with every append and reset: a cheap "has the log changed" check for pollers. */
let version = 0;
const listeners = new Set<Listener>();
const resetListeners = new Set<() => void>();

export const metricsBuffer = {
  /** The whole log (read its columns; do not keep rows from it). */
  get log(): MetricLog {
    return log;
  },
  get length(): number {
    return log.length;
  },
  get version(): number {
    return version;
  },
  last(): MetricRow | null {
    return log.last();
  },
  /** Every row as an object: for one-off passes (a chart mounted mid-run, keeping a run). */
  toRows(): MetricRow[] {
    return log.toRows();
  },
  append(more: readonly MetricRow[]): void {
    if (!more.length) return;
    log.append(more);
    version++;
    for (const l of listeners) l(more);
  },
  clear(): void {
    log.clear();
    version++;
    for (const l of resetListeners) l();
  },
  /** Keep the rows up to `step` (a run rolled back or resumed there); charts re-plot them. */
  truncate(step: number): void {
    log.truncateToStep(step);
    version++;
    for (const l of resetListeners) l();
    const kept = log.toRows();
    if (kept.length) for (const l of listeners) l(kept);
  },
  subscribe(onAppend: Listener, onReset: () => void): () => void {
    listeners.add(onAppend);
    resetListeners.add(onReset);
    return () => {
      listeners.delete(onAppend);
      resetListeners.delete(onReset);
    };
  },
};
