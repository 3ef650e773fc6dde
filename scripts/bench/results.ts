// The results of `npm run bench`: rows, skips, scaling points and the NumPy report, as bench-results/bench.json holds them.
// Also the number formats and the progress log (stderr) that every part of the bench shares.
import os from 'node:os';
import type { BackendInfo, StepProfile } from '../../src/engine/bench';
import type { WasmSgemmRow } from '../../src/engine/benchSgemm';
import type { Architecture } from '../../src/engine/config';
import type { NodeAdapter } from '../../src/cli/nodeWebgpu';
import type { Options, SizeName, Where } from './options';
import type { ResponsivenessResult } from './responsiveness';

export interface Row {
  where: Where | 'native';
  backend: string;
  size: SizeName;
  architecture: Architecture;
  /** The variant as labelled in the tables (e.g. "topk k 5%"; default: architecture) and its k when set. */
  label?: string;
  k?: number;
  /** A native row of the sparse TopK step (native_step.py sparse_topk_loss_and_grads). */
  sparse?: boolean;
  dIn: number;
  dSae: number;
  batch: number;
  tokensPerS?: number;
  msPerStep?: number;
  steps?: number;
  /** Mean and each timed step (ms/step above is their median). */
  meanMsPerStep?: number;
  stepMs?: number[];
  warmupMs?: number[];
  numTensorsBefore?: number;
  numTensorsAfter?: number;
  /** GFLOP/s of the step's matrix products (flops.ts) and as a fraction of the sgemm ceiling. */
  gflops?: number;
  ceilingFraction?: number;
  /** tokens/s ÷ native tokens/s of the same variant and size. */
  nativeRatio?: number;
  /** tokens/s ÷ the NumPy sparse TopK step's of the same row label and size. */
  sparseRatio?: number;
  info?: BackendInfo;
  profile?: StepProfile;
  /** Timed steps that took the sparse products, and the last step's fraction of active latents. */
  sparseSteps?: number;
  activeFraction?: number;
  error?: string;
}

export interface Skip { where: string; backend: string; size?: string; architecture?: string; reason: string }

export interface ScalingPoint { dIn: number; dSae: number; batch: number; tokensPerS?: number; msPerStep?: number; error?: string }

export interface NativeReport {
  info: Record<string, unknown>;
  sgemm: { shapes: { shape: string; m: number; k: number; n: number; gflops: number }[]; ceilingGflops: number; square1024Gflops: number };
  rows: { variant: Architecture; label?: string; k?: number | null; size: SizeName; dIn: number; dSae: number; batch: number; steps: number; msPerStep: number; meanMsPerStep: number; tokensPerS: number }[];
  /** The sparse TopK step (k 32 at the gpt2 size) and its check against the dense step. */
  sparseRows?: NativeReport['rows'];
  sparseCheck?: { dIn: number; dSae: number; batch: number; k: number; maxRelErr: number; tol: number; ok: boolean };
  /** The same with one BLAS thread. */
  sgemm1?: { ceilingGflops: number; square1024Gflops: number };
  scaling?: { variant: string; dSae: { dSae: number; batch: number; tokensPerS: number; msPerStep: number }[]; batch: { dSae: number; batch: number; tokensPerS: number; msPerStep: number }[]; dSae768?: { dSae: number; batch: number; tokensPerS: number; msPerStep: number }[] };
  seconds: number;
}

export const fmtInt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : Math.round(v).toLocaleString('en-US'));
export const fmt = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));
export const log = (s: string) => console.error(s);

export function loadNote(): string {
  const [one, five] = os.loadavg();
  return `load average ${one.toFixed(2)} (1 min), ${five.toFixed(2)} (5 min) on ${os.cpus().length} cores`;
}

/** The scaling sweep on the best backend (scripts/bench/rows.ts), labelled for the tables and the chart. */
export interface ScalingResult { where: string; backend: string; label: string; dSae: ScalingPoint[]; batch: ScalingPoint[]; dSae768?: ScalingPoint[] }

/** Node's webgpu as bench.json records it (scripts/bench/node.ts): the adapter Dawn found and its label, or why there is none. */
export interface NodeWebgpu { adapter?: NodeAdapter; label?: string; error?: string }

/** Everything one bench run gathered, for the printed report and the files (scripts/bench/report.ts). */
export interface BenchOutcome {
  opts: Options;
  date: string;
  seconds: number;
  loadStart: string;
  loadEnd: string;
  /** The 1-minute load average before the bench started (the warning about a busy machine). */
  loadAtStart: number;
  chromiumVersion: string;
  chromiumEnv: Record<string, unknown> | null;
  native: NativeReport | null;
  wasmMatmul: WasmSgemmRow[] | null;
  chromiumWasmMatmul: { rows: WasmSgemmRow[]; threads: number } | null;
  /** Node's webgpu (--backends node:webgpu): Dawn's adapter and its label, or why there is none; null when not asked for. */
  nodeWebgpu: NodeWebgpu | null;
  rows: Row[];
  skips: Skip[];
  scaling: ScalingResult | null;
  responsiveness: ResponsivenessResult | null;
  notes: string[];
}
