// Application state in zustand slices: data, config (the form and the guidance targets), run
// (progress, live values, results), ui (messages). Metric rows are in metricsBuffer, not here.
// This file creates the store and holds its actions; the state's shape is in state.ts, the Model
// form in modelForm.ts and the guidance drafts in guidance.ts, all re-exported from here, so the
// panels and the client import everything from 'src/store/store'.
import { create } from 'zustand';
import { describeRunData, runDataKey, runDataOf } from './runHistory';
import type { GuidanceDraft } from './guidance';
import { DEFAULT_FORM, type ModelForm } from './modelForm';
import { NO_SPLICE, type AppState } from './state';

export { guidanceProblem, labelSource, toTarget, type GuidanceDraft, type LabelsPreview } from './guidance';
export {
  DEFAULT_FORM, FORM_D_SAE, checkForm, configFromForm, fieldInForm, formDefaults, formFromConfig, isMultiLayer, isPenalty,
  type CommonForm, type ModelForm, type VariantFormValue,
} from './modelForm';
export { NO_SPLICE, type AppState, type Notice, type SplicePoint, type SpliceState, type SweepState } from './state';

export const useStore = create<AppState>(() => ({
  dataset: null,
  dataLoading: null,
  dataError: null,
  loadProgress: null,
  fileResults: [],
  memoryBudgetMiB: 1024,
  imported: null,
  importEvaluation: null,
  importEvaluationData: null,
  importEvaluating: false,
  lm: null,
  lmSites: [],
  lmHook: 'hook_resid_pre',
  lmIncludeBos: false,
  splice: NO_SPLICE,
  importSplice: NO_SPLICE,
  spliceSite: null,
  spliceText: '',
  lmEvalEvery: 0,
  splicePoints: [],
  features: null,
  featuresPending: false,
  latentDetail: null,
  latentPending: null,
  runs: [],
  runsProblem: null,
  overlay: [],
  overlayColumn: 'total_loss',
  frontierData: null,
  keeping: null,
  sweep: null,
  sweepParam: 'd_sae',
  sweepValues: '',
  form: DEFAULT_FORM,
  guidance: [],
  nextGuidanceId: 0,
  previews: {},
  runId: null,
  runData: null,
  runUntrained: false,
  runState: 'idle',
  step: 0,
  totalSteps: 0,
  tokensPerS: 0,
  etaSeconds: 0,
  live: null,
  resolved: null,
  evaluation: null,
  outcome: null,
  runError: null,
  log: [],
  exported: null,
  exporting: false,
  checkpoints: [],
  checkpointExporting: null,
  autosave: null,
  engineDown: null,
  backend: null,
  backendDetail: null,
  skipped: {},
  availableBackends: [],
  backendPreference: 'auto',
  calibrating: null,
  calibration: null,
  dragging: false,
}));

export const setForm = (patch: Partial<ModelForm>) => useStore.setState((s) => ({ form: { ...s.form, ...patch } as ModelForm }));
export const appendLog = (line: string) => useStore.setState((s) => ({ log: [...s.log.slice(-199), line] }));

// ---- guidance targets ---------------------------------------------------------------------------

export function addGuidanceTarget(): string {
  const s = useStore.getState();
  const id = `g${s.nextGuidanceId}`;
  const ds = s.dataset;
  const tokenRules = Boolean(ds?.tokens && ds.vocab);
  const file = ds?.labels[0]?.name ?? '';
  const draft: GuidanceDraft = {
    id,
    latent: Math.min(s.guidance.length, Math.max(0, s.form.d_sae - 1)),
    method: 'contrastive',
    beta: 1,
    margin: 1,
    source: file && !tokenRules ? 'file' : tokenRules ? 'regex' : 'file',
    file,
    piece: '',
    pattern: '',
  };
  useStore.setState({ guidance: [...s.guidance, draft], nextGuidanceId: s.nextGuidanceId + 1 });
  return id;
}

export function updateGuidanceTarget(id: string, patch: Partial<GuidanceDraft>) {
  useStore.setState((s) => {
    const { [id]: _dropped, ...previews } = s.previews;
    const labelsChanged = 'source' in patch || 'file' in patch || 'piece' in patch || 'pattern' in patch;
    return {
      guidance: s.guidance.map((g) => (g.id === id ? { ...g, ...patch } : g)),
      previews: labelsChanged ? previews : s.previews,
    };
  });
}

export function removeGuidanceTarget(id: string) {
  useStore.setState((s) => ({ guidance: s.guidance.filter((g) => g.id !== id) }));
}

/** Set one top-level value of the store (simple settings of the panels). */
export const setStoreValue = <K extends keyof AppState>(key: K, value: AppState[K]) => useStore.setState({ [key]: value } as Pick<AppState, K>);

/**
 * The shown run was trained on other data than the loaded data (new data was loaded since): its
 * data and the loaded data in words, or null. Its curves and metrics stay true of its own data;
 * what reads the loaded rows (feature browser, splicing) would not be.
 */
export function staleRun(s: Pick<AppState, 'runId' | 'runData' | 'dataset'>): { runData: string; loaded: string } | null {
  if (!s.runId || !s.runData || !s.dataset) return null;
  const loaded = runDataOf(s.dataset);
  if (runDataKey(loaded) === runDataKey(s.runData)) return null;
  return { runData: describeRunData(s.runData), loaded: describeRunData(loaded) };
}

/** Why the shown run cannot be judged on the loaded rows (feature browser, splicing), or null. */
export function staleRunProblem(s: Pick<AppState, 'runId' | 'runData' | 'dataset'>): string | null {
  const stale = staleRun(s);
  return stale ? `this run was trained on ${stale.runData}, not on the loaded ${stale.loaded}: load its data again, or open the kept run from Runs as the imported SAE` : null;
}
