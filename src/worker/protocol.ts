// Typed messages between the page and the engine worker. Every run-scoped message carries the
// run id so that late messages of an old run are ignored. Large arrays travel as transferables.
import type { BenchResult, BenchSpec } from '../engine/bench';
import type { ConfigInput, LiveParams, SaeConfig } from '../engine/config';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** One logged training step. Column names are those of the exported log CSV. */
export interface MetricRow {
  step: number;
  total_loss: number;
  recon_loss: number;
  sparsity_loss: number;
  /** L0 fraction = mean active latents per row / d_sae (the seeds' `sparsity_l0`). */
  sparsity_l0: number;
  aux_loss: number;
  /** Mean active latents per row. */
  l0: number;
  /** Σ||x − x̂||² / Σ||x||² on this batch. */
  nmse: number;
  /** 1 − Σ||x − x̂||² / Σ||x − x̄||² on this batch. */
  fve: number;
  dead_fraction: number;
  lr: number;
  lambda: number;
  k: number;
  bandwidth: number;
  threshold: number;
  /** Mean learned threshold θ (jumprelu), else the inference threshold. */
  threshold_mean: number;
  tokens_per_s: number;
  elapsed_s: number;
}

/** A live parameter change, as applied by the worker (shown in the log). */
export interface LiveEvent {
  step: number;
  changes: Partial<LiveParams>;
}

export interface DatasetStats {
  mean: number;
  std: number;
  meanNorm: number;
  min: number;
  max: number;
}

export interface DatasetInfo {
  name: string;
  rows: number;
  dIn: number;
  /** dtype of the file as read ('float32', 'float16', or 'synthetic'). */
  dtype: string;
  trainRows: number;
  valRows: number;
  stats: DatasetStats;
  /** True for the built-in sample with planted ground-truth features. */
  synthetic: boolean;
  /** Human-readable description (e.g. of the planted features). */
  description: string;
}

/** Metrics on the validation split, names exactly as in DESIGN.md §3. */
export interface EvalMetrics {
  nmse: number;
  fve: number;
  nmse_per_token: number;
  l0: number;
  l0_fraction: number;
  dead_fraction: number;
  /** Mean over true features of the best |cosine| with a decoder row (synthetic data only). */
  feature_recovery?: number;
  steps: number;
  tokens_per_s: number;
  backend: string;
}

export type RunState = 'idle' | 'running' | 'paused' | 'stopped' | 'done';

export type ToWorker =
  | { type: 'init'; prefer?: BackendName }
  | { type: 'loadSample'; requestId: string }
  | { type: 'load'; requestId: string; name: string; buffer: ArrayBuffer }
  | { type: 'start'; runId: string; config: ConfigInput }
  | { type: 'update'; runId: string; live: Partial<LiveParams> }
  | { type: 'pause' | 'resume' | 'stop' | 'export'; runId: string }
  /** Benchmark training steps on one backend (used by `npm run bench`, not by the UI). */
  | { type: 'bench'; requestId: string; backend: BackendName; spec: BenchSpec };

export type FromWorker =
  | { type: 'ready'; backend: BackendName; skipped: Partial<Record<BackendName, string>> }
  | { type: 'dataset'; requestId: string; info: DatasetInfo }
  | { type: 'started'; runId: string; config: SaeConfig; live: LiveParams }
  | { type: 'metrics'; runId: string; rows: MetricRow[]; events: LiveEvent[] }
  | { type: 'status'; runId: string; state: RunState; step: number; totalSteps: number; message?: string }
  | { type: 'evaluated'; runId: string; metrics: EvalMetrics }
  | { type: 'exported'; runId: string; files: Record<string, ArrayBuffer> }
  | { type: 'benchResult'; requestId: string; result?: BenchResult; error?: string }
  | { type: 'error'; runId?: string; requestId?: string; message: string; hint?: string };
