// Sweeps over one hyper-parameter: which parameters a variant can sweep, how a value changes the
// form, parsing the list of values, and the L0-vs-NMSE / L0-vs-loss-recovered frontier of the
// kept runs (one point per run, one series per variant).
import { SPARSITY_KIND, lambdaKey, variantDeclaration, variantDeclarations, type Architecture } from '../engine/config';
import type { ModelForm } from './modelForm';
import { describeRunData, recordData, runDataKey, type RunRecord } from './runHistory';
import type { SweepParam } from './sweepParam';

export type { SweepParam };

export interface SweepParamSpec {
  key: SweepParam;
  label: string;
  integer: boolean;
  /** Why the variant cannot sweep it, or null when it can. */
  problem(architecture: Architecture): string | null;
  /** The form with this value (λ and k switch sparsity to manual: the controller would move them). */
  patch(architecture: Architecture, value: number): Partial<ModelForm>;
}

/** Why a variant cannot sweep one of its own fields (null when it declares the field). */
function ownField(a: Architecture, key: string, what: string): string | null {
  if (variantDeclaration(a)?.fields[key]) return null;
  const owners = variantDeclarations().filter((d) => d.fields[key]).map((d) => d.architecture);
  return `${what} belongs to ${owners.join(', ') || 'no variant'}`;
}

export const SWEEP_PARAMS: readonly SweepParamSpec[] = [
  {
    key: 'lambda', label: 'λ (sparsity coefficient)', integer: false,
    problem: (a) => (lambdaKey(a) ? null : `${a} sets sparsity by k, not by a coefficient λ`),
    patch: (a, v) => ({ [lambdaKey(a)!]: v, sparsity_mode: 'manual' }),
  },
  {
    key: 'k', label: 'k (active latents)', integer: true,
    problem: (a) => (SPARSITY_KIND[a] === 'k' ? null : `${a} has no k; sweep λ instead`),
    patch: (_a, v) => ({ k: v, sparsity_mode: 'manual' }),
  },
  {
    key: 'd_sae', label: 'd_sae (latents)', integer: true,
    problem: () => null,
    patch: (_a, v) => ({ d_sae: v }),
  },
  {
    key: 'bandwidth', label: 'bandwidth (JumpReLU)', integer: false,
    problem: (a) => ownField(a, 'bandwidth', 'bandwidth'),
    patch: (_a, v) => ({ bandwidth: v }),
  },
  {
    key: 'init_threshold', label: 'initial threshold (JumpReLU)', integer: false,
    problem: (a) => ownField(a, 'init_threshold', 'the initial threshold'),
    patch: (_a, v) => ({ init_threshold: v }),
  },
];

export const sweepParam = (key: SweepParam): SweepParamSpec => SWEEP_PARAMS.find((p) => p.key === key)!;

export const MAX_SWEEP_VALUES = 16;

/** "1e-3, 3e-3 0.01" → numbers; a message naming the bad entry otherwise. */
export function parseSweepValues(text: string, param: SweepParam): { values: number[] } | { error: string } {
  const spec = sweepParam(param);
  const parts = text.split(/[,;\s]+/).filter(Boolean);
  if (!parts.length) return { error: 'type the values to try, separated by commas (e.g. 1e-3, 3e-3, 1e-2)' };
  if (parts.length > MAX_SWEEP_VALUES) return { error: `${parts.length} values; a sweep takes at most ${MAX_SWEEP_VALUES}` };
  const values: number[] = [];
  for (const p of parts) {
    const v = Number(p);
    if (!Number.isFinite(v)) return { error: `"${p}" is not a number` };
    if (!(v > 0)) return { error: `${p}: ${param} must be positive` };
    if (spec.integer && !Number.isInteger(v)) return { error: `${p}: ${param} must be a whole number` };
    values.push(v);
  }
  if (new Set(values).size !== values.length) return { error: 'a value appears twice' };
  return { values };
}

export interface FrontierPoint {
  id: string;
  l0: number;
  y: number;
  label: string;
  /** Runs of one sweep are joined by a line (in sweep order). */
  sweepId: string | null;
  order: number;
}

export interface FrontierSeries {
  architecture: Architecture;
  /** The runs' step budget (their config's steps): runs of other budgets are other series. */
  steps: number;
  points: FrontierPoint[];
}

/** The data kept runs were trained on, each once (by key), the most recent run's data first. */
export function frontierData(runs: readonly RunRecord[]): { key: string; label: string; runs: number }[] {
  const out = new Map<string, { key: string; label: string; runs: number; last: number }>();
  for (const r of runs) {
    const data = recordData(r);
    const key = runDataKey(data);
    const entry = out.get(key) ?? { key, label: describeRunData(data), runs: 0, last: 0 };
    entry.runs++;
    entry.last = Math.max(entry.last, r.createdAt);
    out.set(key, entry);
  }
  return [...out.values()].sort((a, b) => b.last - a.last).map(({ key, label, runs: n }) => ({ key, label, runs: n }));
}

/**
 * Kept runs on one data (`dataKey`; all runs when null) as frontier points: x = L0 (mean active
 * latents per token on the validation split), y = NMSE or loss recovered; runs without the value (no
 * splice evaluation) are left out. One series per variant and step budget: a frontier compares runs
 * of the same data and budget.
 */
export function frontierSeries(runs: readonly RunRecord[], y: 'nmse' | 'loss_recovered', label: (r: RunRecord) => string, dataKey: string | null = null): FrontierSeries[] {
  const bySeries = new Map<string, FrontierSeries>();
  for (const r of runs) {
    if (dataKey !== null && runDataKey(recordData(r)) !== dataKey) continue;
    const value = y === 'nmse' ? r.metrics.nmse : r.splice?.loss_recovered;
    if (value === undefined || !Number.isFinite(value) || !Number.isFinite(r.metrics.l0)) continue;
    const key = `${r.config.architecture}|${r.config.steps}`;
    const series = bySeries.get(key) ?? { architecture: r.config.architecture, steps: r.config.steps, points: [] };
    series.points.push({ id: r.id, l0: r.metrics.l0, y: value, label: label(r), sweepId: r.sweep?.id ?? null, order: r.sweep ? r.sweep.index : r.number });
    bySeries.set(key, series);
  }
  return [...bySeries.values()].map((series) => ({ ...series, points: series.points.sort((a, b) => a.l0 - b.l0) }));
}
