// The page's splice evaluations and imported-SAE requests to the engine worker, and their replies.
// The imported SAE's requests carry run ids of their own (importEvalId, importSpliceId), so their
// replies are told from the current run's; src/app/clientEngine.ts asks here first.
//
import type { ConfigInput } from '../engine/config';
import type { SpliceEvaluation } from '../data/languageModel';
import { spliceTargetOf } from '../data/sites';
import { runDataOf } from '../store/runHistory';
import { appendLog, formFromConfig, useStore, type AppState } from '../store/store';
import { formatNumber } from './format';
import { newId, send } from './clientLink';
import { train } from './clientRun';
import type { FromWorker } from '../worker/protocol';

let importEvalId: string | null = null;
let importSpliceId: string | null = null;

function describeSplice(e: SpliceEvaluation): string {
  return e.groups.map((g) => `${g.sites.length > 1 ? 'layers' : 'layer'} ${g.sites.join(', ')}: loss recovered ${formatNumber(g.loss_recovered)} ± ${formatNumber(g.loss_recovered_se)} (SE, ${e.predictions.toLocaleString('en-US')} predictions), KL ${formatNumber(g.kl)}, CE ${formatNumber(g.ce)} (clean ${formatNumber(e.ce_clean)})`).join('; ') + ` on ${e.text}`;
}

/** Splice the run's SAE (or the imported one) into the language model. */
export function spliceEvaluate(source: 'run' | 'imported') {
  const s = useStore.getState();
  const { site, disabledWhy } = spliceTargetOf(source, s);
  if (disabledWhy) return; // the button says why
  const text = s.spliceText || undefined;
  if (source === 'imported') {
    importSpliceId = newId('import-splice');
    useStore.setState({ importSplice: { pending: true, evaluation: null } });
    send({ type: 'spliceEvaluate', runId: importSpliceId, source, site, text, split: { split_by: s.form.split_by, seed: s.form.seed } });
    return;
  }
  if (!s.runId) return;
  useStore.setState({ splice: { pending: true, evaluation: null } });
  send({ type: 'spliceEvaluate', runId: s.runId, source, site, text });
}

/** Evaluate the imported SAE on the loaded activations (validation split). */
export function evaluateImported() {
  importEvalId = newId('import-eval');
  const { dataset, form } = useStore.getState();
  useStore.setState({ importEvaluating: true, importEvaluation: null, importEvaluationData: dataset ? runDataOf(dataset) : null });
  send({ type: 'evaluateImported', runId: importEvalId, split: { split_by: form.split_by, seed: form.seed } });
}

/** Continue training the imported SAE: its config goes into the form, the run starts from its weights. */
export function continueImported() {
  openImported(false);
}

/** Open the imported SAE as a run without training it: its features, dashboards and loss recovered as published. */
export function browseImported() {
  openImported(true);
}

function openImported(untrained: boolean) {
  const { imported } = useStore.getState();
  if (!imported) return;
  const { form } = formFromConfig(imported.config as unknown as ConfigInput);
  // The Data panel's split stays: the imported config knows nothing of the loaded data.
  useStore.setState((s) => ({ form: { ...s.form, ...form, split_by: s.form.split_by, seed: s.form.seed } }));
  train(true, untrained);
}

/** Replies to the imported SAE's requests (an evaluation, a splice). False when the message is not one. */
export function onImportedReply(msg: FromWorker): boolean {
  if (msg.type === 'spliced' && msg.runId === importSpliceId) {
    useStore.setState({ importSplice: { pending: false, evaluation: msg.evaluation } });
    appendLog(`imported SAE spliced into the model: ${describeSplice(msg.evaluation)}`);
    return true;
  }
  if (msg.type === 'evaluated' && msg.runId === importEvalId) {
    useStore.setState({ importEvaluation: msg.metrics, importEvaluating: false });
    appendLog(`imported SAE on the validation rows: NMSE ${formatNumber(msg.metrics.nmse)}, FVE ${formatNumber(msg.metrics.fve)}, L0 ${formatNumber(msg.metrics.l0)}`);
    return true;
  }
  return false;
}

/** The current run's splice evaluation: one at a checkpoint step (a chart point), or the one asked for. */
export function onSpliceReply(msg: Extract<FromWorker, { type: 'spliced' }>) {
  const e = msg.evaluation;
  if (msg.step !== undefined) {
    const g = e.groups[0];
    useStore.setState((st) => ({ splicePoints: [...st.splicePoints, { step: msg.step!, loss_recovered: g.loss_recovered, loss_recovered_se: g.loss_recovered_se, predictions: e.predictions, kl: g.kl, ce: g.ce }] }));
    return;
  }
  useStore.setState({ splice: { pending: false, evaluation: e } });
  appendLog(`spliced into the model: ${describeSplice(e)}`);
}

/** An error of the imported SAE's requests or of the run's splice: said where they are shown. False when it is not one. */
export function onSpliceError(msg: Extract<FromWorker, { type: 'error' }>, s: AppState): boolean {
  if (msg.runId && msg.runId === importEvalId) {
    useStore.setState({ importEvaluating: false, dataError: { message: msg.message, hint: msg.hint } });
  } else if (msg.runId && msg.runId === importSpliceId) {
    useStore.setState({ importSplice: { pending: false, evaluation: null, error: msg.message } });
  } else if (msg.runId && msg.runId === s.runId && s.splice.pending) {
    useStore.setState({ splice: { pending: false, evaluation: null, error: msg.message } });
  } else return false;
  return true;
}
