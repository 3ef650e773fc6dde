// A trainer's full state: its types, the tensors it is made of, copies of it (on the device or as arrays), and restoring them.
import * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam';
import type { GuidanceTarget, LiveParams } from './config';
import type { Sae } from './inference';
import type { RngState } from './rng';
import type { SamplerState } from './batchSampler';
import type { Params, Variant } from './variants/types';

/** A run's state beside its tensors: with them, enough to continue exactly where it was. */
export interface TrainerMeta {
  version: 1;
  architecture: string;
  step: number;
  live: LiveParams;
  pendingLive: Partial<LiveParams>;
  guidance: GuidanceTarget[];
  l0Ema: number | null;
  controller: { lastError: number | null; rate: number };
  fRowsSinceLog: number;
  lastLogStep: number;
  lastValStep: number;
  activeSeconds: number;
  earlyStopper: { best: number; bad: number };
  earlyStoppedAt: number | null;
  bestVal: { loss: number; step: number } | null;
  resampled: { step: number; latents: number }[];
  rng: RngState;
  /** Null for streamed data (its batch order is not part of the state). */
  sampler: SamplerState | null;
  adamStep: number;
  /** The first logged reconstruction loss: the scale a blow-up is measured against (null before it). */
  reconReference?: number | null;
}

/**
 * A copy of a run's state. Tensors are named `param/<name>`, `adam/m/<name>`, `adam/v/<name>`,
 * `best/<name>` (early stopping's best weights), `variant/<name>` (state a variant keeps outside its
 * parameters) and `tokensSinceFired` / `firedSinceLog`. On the device (`snapshot`, for rolling back
 * a diverged run) or as plain arrays (`saveState`, for the autosave).
 */
export interface TrainerSnapshot {
  meta: TrainerMeta;
  tensors: Record<string, tf.Tensor>;
}

export interface SavedTrainerState {
  meta: TrainerMeta;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

/** The tensors a trainer's state is made of. */
export interface StateTensorSources {
  params: Params;
  adam: Adam;
  tokensSinceFired: tf.Variable;
  firedSinceLog: tf.Variable;
  /** Early stopping's best weights, if kept. */
  best: Record<string, tf.Tensor> | null;
}

/** The tensors of the state, by name (the live ones: callers copy them). */
export function stateTensors(s: StateTensorSources): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(s.params)) out[`param/${name}`] = v;
  for (const [name, v] of Object.entries(s.adam.moments)) out[`adam/${name}`] = v;
  out.tokensSinceFired = s.tokensSinceFired;
  out.firedSinceLog = s.firedSinceLog;
  if (s.best) for (const [name, t] of Object.entries(s.best)) out[`best/${name}`] = t;
  return out;
}

/** Device copies of the state's tensors and of the state a variant keeps outside its parameters. */
export function copyStateTensors(live: Record<string, tf.Tensor>, sae: Sae): Record<string, tf.Tensor> {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(live)) tensors[name] = tf.clone(t);
  return { ...tensors, ...variantStateTensors(sae) };
}

/**
 * State a variant keeps outside Params (BatchTopK's θ_g), exported fresh (the caller disposes
 * them), as `variant/<name>`.
 */
function variantStateTensors(sae: Sae): Record<string, tf.Tensor> {
  const tensors: Record<string, tf.Tensor> = {};
  const paramSet = new Set<tf.Tensor>(Object.values(sae.params));
  for (const [name, t] of Object.entries(sae.variant.exportTensors(sae.params))) {
    if (paramSet.has(t)) continue;
    if (sae.variant.loadState) tensors[`variant/${name}`] = t;
    else t.dispose(); // an export-only form (e.g. a transpose), rebuilt from the params
  }
  return tensors;
}

/** A snapshot read from the device in one pass, as plain arrays; the snapshot is disposed. */
export async function readSnapshot(snap: TrainerSnapshot): Promise<SavedTrainerState> {
  try {
    const tensors: SavedTrainerState['tensors'] = {};
    for (const [name, t] of Object.entries(snap.tensors)) tensors[name] = { shape: t.shape.slice(), data: ownFloat32(await t.data()) };
    return { meta: snap.meta, tensors };
  } finally {
    disposeSnapshot(snap);
  }
}

/**
 * Whether the backend reads a tensor without waiting (wasm and cpu compute synchronously). There
 * the trainer keeps its copies of the state as arrays (`readStateNow`): on wasm they then live
 * outside its 4 GiB memory, where a device copy of a GPT-2-width SAE's weights and moments would
 * take 0.6 GiB (src/engine/memoryBudget.ts counts them accordingly).
 */
export function readsWithoutWaiting(backend: string = tf.getBackend()): boolean {
  return backend === 'wasm' || backend === 'cpu';
}

/**
 * The state as plain arrays, read at once from the live tensors (only where `readsWithoutWaiting`):
 * no device copy is made (a clone on wasm is one), so the backend's memory never holds a second set.
 */
export function readStateNow(meta: TrainerMeta, live: Record<string, tf.Tensor>, sae: Sae): SavedTrainerState {
  const tensors: SavedTrainerState['tensors'] = {};
  const read = (name: string, t: tf.Tensor) => { tensors[name] = { shape: t.shape.slice(), data: ownFloat32(t.dataSync()) }; };
  for (const [name, t] of Object.entries(live)) read(name, t);
  for (const [name, t] of Object.entries(variantStateTensors(sae))) { read(name, t); t.dispose(); }
  return { meta, tensors };
}

/** Float32 values the caller owns: wasm's reads are already fresh copies; cpu's are its own storage. */
function ownFloat32(values: tf.TypedArray | string[] | Uint8Array[]): Float32Array {
  return values instanceof Float32Array && tf.getBackend() === 'wasm' ? values : Float32Array.from(values as ArrayLike<number>);
}

/** True for a copy held on the device (a `snapshot`), false for one read into arrays. */
export function isDeviceSnapshot(s: TrainerSnapshot | SavedTrainerState): s is TrainerSnapshot {
  return Object.values(s.tensors).some((t) => t instanceof tf.Tensor);
}

export function disposeSnapshot(s: TrainerSnapshot): void {
  for (const t of Object.values(s.tensors)) t.dispose();
}

type SavedTensors = TrainerSnapshot['tensors'] | SavedTrainerState['tensors'];

function check(tensors: SavedTensors, name: string, shape: number[]): void {
  const src = tensors[name];
  if (!src) throw new Error(`the saved state has no tensor ${name}; it belongs to another kind of run.`);
  if (src.shape.join(',') !== shape.join(',')) throw new Error(`saved tensor ${name} has shape [${src.shape}] but this run needs [${shape}]; the config or the data differ.`);
}

/** A tensor of the saved state: the snapshot's own (not to be disposed) or a new one from arrays. */
function toTensor(tensors: SavedTensors, name: string, shape: number[]): tf.Tensor {
  check(tensors, name, shape);
  const src = tensors[name];
  return src instanceof tf.Tensor ? src : tf.tensor(src.data, src.shape);
}

/**
 * Check that a saved state fits this run (version, architecture, every shape) before anything
 * changes, then assign its tensors to the live ones `targets` (from `stateTensors`). Early
 * stopping's best weights are left to `savedBest`.
 */
export function restoreTensors(state: TrainerSnapshot | SavedTrainerState, targets: Record<string, tf.Tensor>, params: Params, architecture: string): void {
  const { meta, tensors } = state;
  if (meta.version !== 1) throw new Error(`saved state version ${String(meta.version)} is not supported.`);
  if (meta.architecture !== architecture) throw new Error(`the saved state is of a ${meta.architecture} run, not ${architecture}.`);
  // Check every shape before anything changes.
  for (const [name, t] of Object.entries(targets)) if (!name.startsWith('best/')) check(tensors, name, t.shape);
  if (meta.bestVal) for (const [name, v] of Object.entries(params)) check(tensors, `best/${name}`, v.shape);
  tf.tidy(() => {
    for (const [name, t] of Object.entries(targets)) {
      if (!name.startsWith('best/')) (t as tf.Variable).assign(toTensor(tensors, name, t.shape));
    }
  });
}

/** Early stopping's best weights in a saved state (which has them: meta.bestVal), as new tensors. */
export function savedBest(state: TrainerSnapshot | SavedTrainerState, params: Params): Record<string, tf.Tensor> {
  const { tensors } = state;
  const best: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(params)) {
    const src = toTensor(tensors, `best/${name}`, v.shape);
    best[name] = src instanceof tf.Tensor && tensors[`best/${name}`] === src ? tf.clone(src) : src;
  }
  return best;
}

/** Hand the variant the state it keeps outside its parameters (`variant/<name>`), if the saved state has any. */
export function restoreVariantState(state: TrainerSnapshot | SavedTrainerState, variant: Variant): void {
  const variantState: Record<string, tf.Tensor | { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(state.tensors)) if (name.startsWith('variant/')) variantState[name.slice('variant/'.length)] = t;
  if (Object.keys(variantState).length) variant.loadState?.(variantState);
}
