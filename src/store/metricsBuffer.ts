// Logged metric rows live outside React state: charts subscribe to appends directly, so a metrics
// tick never re-renders the component tree (DESIGN.md §7).
import type { MetricRow } from '../worker/protocol';

type Listener = (appended: MetricRow[], all: readonly MetricRow[]) => void;

const rows: MetricRow[] = [];
const listeners = new Set<Listener>();
const resetListeners = new Set<() => void>();

export const metricsBuffer = {
  get rows(): readonly MetricRow[] {
    return rows;
  },
  append(more: MetricRow[]): void {
    if (!more.length) return;
    rows.push(...more);
    for (const l of listeners) l(more, rows);
  },
  clear(): void {
    rows.length = 0;
    for (const l of resetListeners) l();
  },
  /** Keep the rows up to `step` (a run rolled back or resumed there); charts re-plot them. */
  truncate(step: number): void {
    const kept = rows.filter((r) => r.step <= step);
    this.clear();
    this.append(kept);
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
