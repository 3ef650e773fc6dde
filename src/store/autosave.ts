// The autosave of the run in progress: its config, full training state (parameters, optimiser
// moments, batch order, controller …) and log, written to IndexedDB by the worker every few
// seconds and when it pauses, read by the page after a reload or a crash to offer resuming. One
// slot: a new run replaces it, a finished run removes it. DOM-free (IndexedDB exists in workers).
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { SaeConfig } from '../engine/config';
import type { SavedTrainerState } from '../engine/trainer';
import type { MetricRow } from '../worker/protocol';

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
  rows: MetricRow[];
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
}

const SLOT = 'current';
let db: Promise<IDBPDatabase<AutosaveDb>> | null = null;

function open(): Promise<IDBPDatabase<AutosaveDb>> {
  if (typeof indexedDB === 'undefined') return Promise.reject(new Error('this browser offers no IndexedDB'));
  db ??= openDB<AutosaveDb>('sae-workbench-autosave', 1, { upgrade(d) { d.createObjectStore('autosave'); } });
  return db;
}

export async function writeAutosave(a: Autosave): Promise<void> {
  await (await open()).put('autosave', a, SLOT);
}

export async function readAutosave(): Promise<Autosave | null> {
  try { return (await (await open()).get('autosave', SLOT)) ?? null; } catch { return null; }
}

export async function clearAutosave(): Promise<void> {
  try { await (await open()).delete('autosave', SLOT); } catch { /* nothing to clear */ }
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
