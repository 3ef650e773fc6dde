// The autosave of the run in progress: its config, full training state (parameters, optimiser
// moments, batch order, controller …) and log, written to IndexedDB by the worker every few
// seconds and when it pauses, read by the page after a reload or a crash to offer resuming. One
// slot: a new run replaces it, a finished run removes it. DOM-free (IndexedDB exists in workers).
// The log is written incrementally: each save adds the rows logged since the last one as a piece
// (by column), so a save costs the same at step 100 as at step 1,000,000.
// It sits in src/run, below the worker, because both the worker (src/worker/engine.worker.ts) and
// the page (src/app/client.ts, src/ui/panels/TrainPanel.tsx) use it and the worker may not import
// src/store (.dependency-cruiser.cjs).
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { SaeConfig } from '../engine/config';
import { assembleLog, MetricLog, type MetricLogData } from '../engine/metricLog';
import type { SavedTrainerState } from '../engine/trainer';

/** What identifies the loaded activations, to refuse resuming on other data. */
export interface DatasetFingerprint {
  name: string;
  rows: number;
  dIn: number;
  nLayers: number;
  /** Sum of up to 4096 evenly spaced values (NaN for streamed data, which is not in memory). */
  checksum: number;
}

export interface Autosave {
  runId: string;
  savedAt: number;
  config: SaeConfig;
  dataset: DatasetFingerprint;
  /** Started from the imported SAE's weights (only relevant to the log). */
  fromImported: boolean;
  lmEvalEvery: number;
  nextLmEval: number;
  state: SavedTrainerState;
  /** Rows of the log at this save (its pieces may hold more: rows of a rolled-back stretch). */
  logLength: number;
}

/** Rows `from` … of the log; a piece replaces the rows from `from` on that earlier pieces held. */
export interface LogPiece {
  from: number;
  data: MetricLogData;
}

/** An autosave as read back, with its log assembled. */
export interface SavedRun extends Autosave {
  log: MetricLog;
  /** Pieces the log is stored in (a saver compacts them when there are many). */
  logPieces: number;
}

/** The autosave without its tensors and log (what the page shows before resuming). */
export interface AutosaveSummary {
  runId: string;
  savedAt: number;
  step: number;
  totalSteps: number;
  architecture: string;
  dSae: number;
  dataset: DatasetFingerprint;
}

interface AutosaveDb extends DBSchema {
  autosave: { key: string; value: Autosave };
  /** Pieces of the log, keyed by their first row. */
  log: { key: number; value: LogPiece };
}

const SLOT = 'current';
let db: Promise<IDBPDatabase<AutosaveDb>> | null = null;

function open(): Promise<IDBPDatabase<AutosaveDb>> {
  if (typeof indexedDB === 'undefined') return Promise.reject(new Error('this browser offers no IndexedDB'));
  db ??= openDB<AutosaveDb>('sae-workbench-autosave', 2, {
    upgrade(d, oldVersion) {
      // Version 1 kept the log as row objects inside the record: such an autosave is dropped.
      if (oldVersion >= 1) d.deleteObjectStore('autosave');
      d.createObjectStore('autosave');
      d.createObjectStore('log');
    },
  });
  return db;
}

/**
 * Store the record and the log rows logged since the last save, in one transaction: `piece` drops
 * every stored piece from its first row on (rows a rollback took back) and takes their place.
 */
export async function writeAutosave(a: Autosave, piece: LogPiece): Promise<void> {
  const tx = (await open()).transaction(['autosave', 'log'], 'readwrite');
  const log = tx.objectStore('log');
  await log.delete(IDBKeyRange.lowerBound(piece.from));
  await log.put(piece, piece.from);
  await tx.objectStore('autosave').put(a, SLOT);
  await tx.done;
}

/** The autosave, with its log unless `withLog` is false (the log is empty then). */
export async function readAutosave(withLog = true): Promise<SavedRun | null> {
  try {
    const d = await open();
    const tx = d.transaction(['autosave', 'log'], 'readonly');
    const a = await tx.objectStore('autosave').get(SLOT);
    if (!a) return null;
    if (!withLog) return { ...a, log: new MetricLog(), logPieces: 0 };
    const pieces = await tx.objectStore('log').getAll();
    return { ...a, log: assembleLog(pieces, a.logLength), logPieces: pieces.length };
  } catch {
    return null;
  }
}

export async function clearAutosave(): Promise<void> {
  try {
    const tx = (await open()).transaction(['autosave', 'log'], 'readwrite');
    await Promise.all([tx.objectStore('autosave').clear(), tx.objectStore('log').clear(), tx.done]);
  } catch { /* nothing to clear */ }
}

export function summarise(a: Autosave): AutosaveSummary {
  return { runId: a.runId, savedAt: a.savedAt, step: a.state.meta.step, totalSteps: a.config.steps, architecture: a.config.architecture, dSae: a.config.d_sae, dataset: a.dataset };
}

export function fingerprint(ds: { name: string; rows: number; dIn: number; nLayers: number; data?: Float32Array }): DatasetFingerprint {
  let checksum = Number.NaN;
  if (ds.data && ds.data.length) {
    checksum = 0;
    const stride = Math.max(1, Math.floor(ds.data.length / 4096));
    for (let i = 0; i < ds.data.length; i += stride) checksum += ds.data[i];
  }
  return { name: ds.name, rows: ds.rows, dIn: ds.dIn, nLayers: ds.nLayers, checksum };
}

/** Why the loaded data is not the data of the autosave, or null when it is. */
export function fingerprintMismatch(saved: DatasetFingerprint, loaded: DatasetFingerprint | null): string | null {
  const describe = (f: DatasetFingerprint) => `${f.name} (${f.rows.toLocaleString('en-US')} × ${f.nLayers > 1 ? `${f.nLayers} × ` : ''}${f.dIn})`;
  if (!loaded) return `load ${describe(saved)} again to resume`;
  const same = saved.rows === loaded.rows && saved.dIn === loaded.dIn && saved.nLayers === loaded.nLayers
    && (Number.isNaN(saved.checksum) || Number.isNaN(loaded.checksum) || Object.is(saved.checksum, loaded.checksum));
  return same ? null : `the run was trained on ${describe(saved)} but ${describe(loaded)} is loaded; load ${saved.name} again to resume`;
}
