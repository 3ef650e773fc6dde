// The page's export requests to the engine worker (dataset, contexts, dashboards, run, checkpoint) and the downloads they end in.
// A run's SAELens files are also asked for when a finished run is kept (src/app/runs.ts): those
// resolve requestRunWeights and download nothing unless the Export button asked.
//
import { appendLog, useStore, type AppState } from '../store/store';
import { download, downloadFiles } from './download';
import { newId, send } from './clientLink';
import { runCommand } from './clientRun';
import type { FromWorker } from '../worker/protocol';

/** The loaded activations with tokens, positions, document ids and vocab, as a zip of .npy files. */
export function exportDataset() {
  send({ type: 'exportDataset', requestId: newId('dataset') });
}

/** Every latent's top contexts as contexts.json. */
export function exportContexts() {
  const { runId } = useStore.getState();
  if (!runId) return;
  useStore.setState({ featuresPending: true });
  send({ type: 'exportContexts', runId });
}

/** Dashboards of `latents` in SAEDashboard's Neuronpedia feature-JSON shape. */
export function exportDashboard(latents: number[]) {
  const { runId } = useStore.getState();
  if (!runId || latents.length === 0) return;
  useStore.setState({ featuresPending: true });
  send({ type: 'exportDashboard', runId, latents });
}

export function exportRun() {
  useStore.setState({ exporting: true });
  runCommand('export');
}

export function exportCheckpoint(step: number) {
  const { runId } = useStore.getState();
  if (!runId) return;
  useStore.setState({ checkpointExporting: step });
  send({ type: 'exportCheckpoint', runId, step });
}

/** Run id → the resolver of its SAELens files (asked for when a finished run is kept). */
const weightRequests = new Map<string, (files: Record<string, ArrayBuffer>) => void>();

/** The SAELens files of a run (the current one, or one the worker still holds). */
export function requestRunWeights(runId: string): Promise<Record<string, ArrayBuffer>> {
  return new Promise((resolve) => {
    weightRequests.set(runId, resolve);
    send({ type: 'export', runId });
  });
}

/** The loaded dataset as a zip of .npy files (asked for by exportDataset, whatever run is current). */
export function onDatasetExported(msg: Extract<FromWorker, { type: 'datasetExported' }>) {
  const { dataset } = useStore.getState();
  downloadFiles(`${(dataset?.name ?? 'activations').replace(/[^\w.-]+/g, '_')}.zip`, msg.files);
}

/** A run's SAELens files reach whoever asked for them (requestRunWeights), of the current run or not. */
export function resolveRunWeights(msg: Extract<FromWorker, { type: 'exported' }>) {
  const waiting = weightRequests.get(msg.runId);
  weightRequests.delete(msg.runId);
  waiting?.(msg.files);
}

/** The current run's exports: downloaded. */
export function onRunExportReply(msg: Extract<FromWorker, { type: 'contextsExported' | 'dashboardExported' | 'exported' | 'checkpointExported' }>, s: AppState) {
  switch (msg.type) {
    case 'contextsExported':
      useStore.setState({ featuresPending: false });
      download('contexts.json', msg.files['contexts.json'], 'application/json');
      return;
    case 'dashboardExported':
      useStore.setState({ featuresPending: false });
      for (const [name, bytes] of Object.entries(msg.files)) download(name, bytes, 'application/json');
      return;
    case 'exported':
      // Only an Export click downloads (the files of a run being kept arrive here too).
      if (!s.exporting) return;
      useStore.setState({ exported: msg.files, exporting: false });
      appendLog(`exported ${Object.keys(msg.files).join(', ')}`);
      return;
    case 'checkpointExported': {
      useStore.setState({ checkpointExporting: null });
      const cfg = s.resolved;
      downloadFiles(`sae_${cfg?.architecture ?? 'run'}_${cfg?.d_sae ?? ''}_step${msg.step}.zip`, msg.files);
      appendLog(`exported checkpoint of step ${msg.step}`);
      return;
    }
  }
}
