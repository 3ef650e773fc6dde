// The training log as CSV: the seed notebook's columns first, then every other metric.
import type { MetricRow } from '../worker/protocol';

const FIRST: (keyof MetricRow)[] = ['step', 'total_loss', 'recon_loss', 'sparsity_loss', 'sparsity_l0'];

export function metricRowsToCsv(rows: MetricRow[]): string {
  const rest = rows.length ? (Object.keys(rows[0]) as (keyof MetricRow)[]).filter((k) => !FIRST.includes(k)) : [];
  const columns = [...FIRST, ...rest];
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
