// The training log as CSV: step, total_loss, recon_loss, sparsity_loss, sparsity_l0 first
// (docs/metrics.md), then every other metric.
import type { MetricRow } from '../engine/types';

const FIRST: (keyof MetricRow)[] = ['step', 'total_loss', 'recon_loss', 'sparsity_loss', 'sparsity_l0'];

export function metricRowsToCsv(rows: MetricRow[]): string {
  // Columns in order of first appearance over all rows: guidance targets or validation columns may
  // start part-way through a run; rows without them get empty cells.
  const seen = new Set<string>(FIRST as string[]);
  const rest: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!seen.has(k)) { seen.add(k); rest.push(k); }
  const columns = [...(FIRST as string[]), ...rest];
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => (Number.isFinite(r[c]) ? String(r[c]) : '')).join(','));
  return lines.join('\n') + '\n';
}

export function parseCsvLog(text: string): Record<string, number[]> {
  const [head, ...lines] = text.trim().split('\n');
  const cols = head.split(',');
  const out: Record<string, number[]> = Object.fromEntries(cols.map((c) => [c, [] as number[]]));
  for (const line of lines) line.split(',').forEach((v, i) => out[cols[i]].push(v === '' ? NaN : Number(v)));
  return out;
}
