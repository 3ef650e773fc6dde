// Backend speeds measured by "auto" (src/engine/calibrate.ts), kept in localStorage so that a
// reload does not measure the same size again (7–10 s on a machine whose GPU is a software
// rasteriser). Kept per environment: a different browser, core count, thread setting or isolation
// starts afresh, since any of them changes which backend wins.
import type { Calibration } from '../engine/calibrate';

const STORAGE_KEY = 'sae-workbench:calibrations';
/** Sizes kept; the least recently measured go first. */
export const MAX_CALIBRATIONS = 40;

type Storage = Pick<globalThis.Storage, 'getItem' | 'setItem'>;
interface Stored { env: string; entries: { calibration: Calibration; savedAt: number }[] }

/** What decides which backend is fastest, besides the size. */
export function environmentKey(threads: number | undefined, nav: { userAgent: string; hardwareConcurrency: number } = navigator, isolated = globalThis.crossOriginIsolated === true): string {
  return `${nav.userAgent} | ${nav.hardwareConcurrency} cores | threads ${threads ?? 'default'} | ${isolated ? 'isolated' : 'not isolated'}`;
}

function read(storage: Storage | undefined, env: string): Stored {
  try {
    const raw = storage?.getItem(STORAGE_KEY);
    const parsed = raw ? (JSON.parse(raw) as Stored) : null;
    if (parsed && parsed.env === env && Array.isArray(parsed.entries)) {
      return { env, entries: parsed.entries.filter((e) => e && typeof e.calibration?.key === 'string' && Array.isArray(e.calibration.results)) };
    }
  } catch { /* unreadable: start afresh */ }
  return { env, entries: [] };
}

/** The calibrations kept for this environment (none when storage is missing or unreadable). */
export function loadCalibrations(env: string, storage: Storage | undefined = globalThis.localStorage): Calibration[] {
  return read(storage, env).entries.map((e) => e.calibration);
}

/** Keep one calibration (replacing an older one of the same size); quietly does nothing if storage fails. */
export function saveCalibration(env: string, calibration: Calibration, storage: Storage | undefined = globalThis.localStorage, now = Date.now()): void {
  const stored = read(storage, env);
  const entries = stored.entries.filter((e) => e.calibration.key !== calibration.key);
  entries.push({ calibration, savedAt: now });
  entries.sort((a, b) => a.savedAt - b.savedAt);
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify({ env, entries: entries.slice(-MAX_CALIBRATIONS) }));
  } catch { /* full or blocked: the worker still keeps it for this page */ }
}
