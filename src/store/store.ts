// Application state in zustand slices: data, config (the form), run (progress, live values,
// results), ui (messages). Metric rows are in metricsBuffer, not here.
import { create } from 'zustand';
import type { Architecture, LiveParams, SaeConfig } from '../engine/config';
import type { BackendName, DatasetInfo, EvalMetrics, RunState } from '../worker/protocol';

export interface ModelForm {
  architecture: Architecture;
  d_sae: number;
  batch_size: number;
  steps: number;
  lr: number;
  l1_coefficient: number;
  k: number;
  l0_coefficient: number;
  bandwidth: number;
  init_threshold: number;
  threshold: number;
  seed: number;
}

export interface Notice {
  message: string;
  hint?: string;
}

interface DataSlice {
  dataset: DatasetInfo | null;
  dataLoading: string | null;
  dataError: Notice | null;
}

interface RunSlice {
  runId: string | null;
  runState: RunState;
  step: number;
  totalSteps: number;
  tokensPerS: number;
  etaSeconds: number;
  live: LiveParams | null;
  resolved: SaeConfig | null;
  evaluation: EvalMetrics | null;
  runError: Notice | null;
  log: string[];
  exported: Record<string, ArrayBuffer> | null;
  exporting: boolean;
}

interface UiSlice {
  backend: BackendName | null;
  skipped: Partial<Record<BackendName, string>>;
  dragging: boolean;
}

export type AppState = DataSlice & RunSlice & UiSlice & { form: ModelForm };

export const DEFAULT_FORM: ModelForm = {
  architecture: 'topk',
  d_sae: 512,
  batch_size: 512,
  steps: 1000,
  lr: 1e-3,
  l1_coefficient: 1,
  k: 16,
  l0_coefficient: 0.1,
  bandwidth: 0.05,
  init_threshold: 0.05,
  threshold: 0,
  seed: 0,
};

export const useStore = create<AppState>(() => ({
  dataset: null,
  dataLoading: null,
  dataError: null,
  form: DEFAULT_FORM,
  runId: null,
  runState: 'idle',
  step: 0,
  totalSteps: 0,
  tokensPerS: 0,
  etaSeconds: 0,
  live: null,
  resolved: null,
  evaluation: null,
  runError: null,
  log: [],
  exported: null,
  exporting: false,
  backend: null,
  skipped: {},
  dragging: false,
}));

export const setForm = (patch: Partial<ModelForm>) => useStore.setState((s) => ({ form: { ...s.form, ...patch } }));
export const appendLog = (line: string) => useStore.setState((s) => ({ log: [...s.log.slice(-199), line] }));

/** The config JSON sent to the worker: only the keys that matter for the chosen variant. */
export function configFromForm(f: ModelForm): Record<string, unknown> {
  const common = { architecture: f.architecture, d_sae: f.d_sae, batch_size: f.batch_size, steps: f.steps, lr: f.lr, seed: f.seed };
  switch (f.architecture) {
    case 'relu': return { ...common, l1_coefficient: f.l1_coefficient, threshold: f.threshold };
    case 'topk': return { ...common, k: f.k, threshold: f.threshold };
    case 'jumprelu': return { ...common, l0_coefficient: f.l0_coefficient, bandwidth: f.bandwidth, init_threshold: f.init_threshold };
  }
}
