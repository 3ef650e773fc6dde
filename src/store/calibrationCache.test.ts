// The page's store of measured backend speeds: survives a "reload" (a new read of the same
// storage), is per environment, replaces a size's older entry, keeps the newest MAX_CALIBRATIONS,
// and shrugs off missing, corrupt or failing storage.
import { describe, expect, it } from 'vitest';
import type { Calibration } from '../engine/calibrate';
import { environmentKey, loadCalibrations, MAX_CALIBRATIONS, saveCalibration } from './calibrationCache';

function memoryStorage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => { m.set(k, v); }, m };
}
const cal = (dSae: number, fastest: 'wasm' | 'webgl' = 'wasm'): Calibration => ({
  key: `topk d_in 64 d_sae ${dSae} batch 512`, architecture: 'topk', dIn: 64, dSae, batch: 512, nLayers: 1,
  results: [{ backend: fastest, status: 'measured', tokensPerS: 20_000 } as Calibration['results'][number]], fastest, ms: 7000,
});
const ENV = environmentKey(undefined, { userAgent: 'Chrome/1', hardwareConcurrency: 2 }, true);

describe('calibration cache', () => {
  it('gives back what was saved, for the same environment only', () => {
    const s = memoryStorage();
    saveCalibration(ENV, cal(512), s);
    saveCalibration(ENV, cal(1024, 'webgl'), s);
    expect(loadCalibrations(ENV, s).map((c) => [c.dSae, c.fastest])).toEqual([[512, 'wasm'], [1024, 'webgl']]);
    const other = environmentKey(2, { userAgent: 'Chrome/1', hardwareConcurrency: 2 }, true);
    expect(other).not.toBe(ENV);
    expect(loadCalibrations(other, s)).toEqual([]);
    // Saving in another environment starts its own list.
    saveCalibration(other, cal(2048), s);
    expect(loadCalibrations(other, s).map((c) => c.dSae)).toEqual([2048]);
  });

  it('replaces a size measured again and keeps the newest entries', () => {
    const s = memoryStorage();
    saveCalibration(ENV, cal(512, 'wasm'), s, 1);
    saveCalibration(ENV, cal(512, 'webgl'), s, 2);
    expect(loadCalibrations(ENV, s).map((c) => c.fastest)).toEqual(['webgl']);
    for (let i = 0; i < MAX_CALIBRATIONS + 5; i++) saveCalibration(ENV, cal(1000 + i), s, 10 + i);
    const kept = loadCalibrations(ENV, s);
    expect(kept).toHaveLength(MAX_CALIBRATIONS);
    expect(kept[kept.length - 1].dSae).toBe(1000 + MAX_CALIBRATIONS + 4);
    expect(kept.some((c) => c.dSae === 512)).toBe(false);
  });

  it('missing, corrupt or failing storage gives nothing and throws nothing', () => {
    expect(loadCalibrations(ENV, undefined)).toEqual([]);
    const s = memoryStorage();
    s.setItem('sae-workbench:calibrations', '{not json');
    expect(loadCalibrations(ENV, s)).toEqual([]);
    s.setItem('sae-workbench:calibrations', JSON.stringify({ env: ENV, entries: [{ calibration: { key: 1 } }, null] }));
    expect(loadCalibrations(ENV, s)).toEqual([]);
    const failing = { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError'); } };
    expect(() => saveCalibration(ENV, cal(512), failing)).not.toThrow();
  });
});
