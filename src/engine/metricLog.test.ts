import { describe, expect, it } from 'vitest';
import { assembleLog, MetricLog } from './metricLog';
import type { MetricRow } from './types';

const row = (step: number, extra: Record<string, number> = {}): MetricRow => ({ step, total_loss: 10 / (step + 1), recon_loss: step * 0.5, ...extra }) as unknown as MetricRow;

describe('MetricLog', () => {
  it('gives back the rows exactly as logged, including columns that start or stop part-way', () => {
    const rows = [
      row(0), row(10),
      row(20, { guidance_a_pos: 0.25 }),
      row(30, { guidance_a_pos: -1.5, val_nmse: 0.3 }),
      row(40),
      row(50, { val_nmse: Number.NaN }),
    ];
    const log = MetricLog.fromRows(rows);
    expect(log.length).toBe(6);
    expect(log.toRows()).toEqual(rows);
    // Key order: first appearance.
    expect(Object.keys(log.row(3))).toEqual(['step', 'total_loss', 'recon_loss', 'guidance_a_pos', 'val_nmse']);
    expect(log.columnNames()).toEqual(['step', 'total_loss', 'recon_loss', 'guidance_a_pos', 'val_nmse']);
    // A logged NaN stays a NaN value; an absent column stays absent.
    expect('val_nmse' in log.row(5)).toBe(true);
    expect('val_nmse' in log.row(4)).toBe(false);
    expect('guidance_a_pos' in log.row(2)).toBe(true);
    expect('guidance_a_pos' in log.row(4)).toBe(false);
    expect([...log.column('guidance_a_pos')]).toEqual([NaN, NaN, 0.25, -1.5, NaN, NaN]);
    expect([...log.column('step')]).toEqual([0, 10, 20, 30, 40, 50]);
    expect([...log.column('missing')].every(Number.isNaN)).toBe(true);
    expect(log.last()).toEqual(rows[5]);
  });

  it('grows past its initial capacity without losing values', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => row(i * 10, i % 7 === 0 ? { lm: i } : {}));
    const log = new MetricLog();
    for (let i = 0; i < rows.length; i += 37) log.append(rows.slice(i, i + 37));
    expect(log.length).toBe(5000);
    expect(log.toRows()).toEqual(rows);
    // 8 bytes a value, capacity doubling: well under a tenth of the objects' size.
    expect(log.byteLength).toBeLessThanOrEqual(8192 * (3 * 8 + 9));
  });

  it('truncates to a step and appends after it', () => {
    const log = MetricLog.fromRows([row(0), row(10, { a: 1 }), row(20, { a: 2 }), row(30)]);
    log.truncateToStep(15);
    expect(log.toRows()).toEqual([row(0), row(10, { a: 1 })]);
    log.append([row(20)]);
    expect(log.toRows()).toEqual([row(0), row(10, { a: 1 }), row(20)]);
    log.truncateToStep(-1);
    expect(log.length).toBe(0);
    log.clear();
    log.append([row(5)]);
    expect(log.toRows()).toEqual([row(5)]);
  });

  it('round-trips through plain data, whole or in pieces, and assembles pieces written after a truncation', () => {
    const rows = Array.from({ length: 40 }, (_, i) => row(i, i >= 12 && i < 30 ? { g: i / 3 } : {}));
    const log = MetricLog.fromRows(rows);
    const whole = structuredClone(log.toData());
    expect(MetricLog.fromData(whole).toRows()).toEqual(rows);
    // Pieces [0,10), [10,25), [25,40): as an incremental autosave writes them.
    const pieces = [[0, 10], [10, 25], [25, 40]].map(([a, b]) => ({ from: a, data: structuredClone(log.toData(a, b)) }));
    expect(pieces[0].data.columns.map((c) => c[0])).toEqual(['step', 'total_loss', 'recon_loss']);
    expect(assembleLog(pieces, 40).toRows()).toEqual(rows);
    expect(assembleLog(pieces, 18).toRows()).toEqual(rows.slice(0, 18));
    // Rolled back to 20 rows, then 5 new rows written from row 20: they replace the old 20..24.
    const redo = Array.from({ length: 5 }, (_, i) => row(100 + i));
    const assembled = assembleLog([...pieces, { from: 20, data: MetricLog.fromRows(redo).toData() }], 25);
    expect(assembled.toRows()).toEqual([...rows.slice(0, 20), ...redo]);
    // A missing piece: only the rows before the gap.
    expect(assembleLog([pieces[0], pieces[2]], 40).length).toBe(10);
  });
});
