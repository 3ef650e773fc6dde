// Everything a finished (or paused) run exports, as named files: the SAELens directory
// (sae_weights.safetensors, cfg.json, sparsity.safetensors), the training log CSV and the run
// config JSON that reproduces the run. Shared by the worker and the CLI.
import type { SaeConfig } from '../engine/config';
import type { MetricRow } from '../worker/protocol';
import { metricRowsToCsv } from './logCsv';
import { buildSaeLensCfg, buildSaeLensExport } from './saelens';

export interface RunExportInput {
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
  /** The variant's cfg.json fields: architecture name and extras such as k. */
  saelens: { architecture: string } & Record<string, unknown>;
  dIn: number;
  config: SaeConfig;
  rows: MetricRow[];
  /** Fraction of evaluation rows on which each latent fired [d_sae]. */
  firingFraction?: Float32Array;
  /** Name of the activation file the run trained on. */
  datasetName: string;
}

export function buildRunExport(input: RunExportInput): Record<string, Uint8Array> {
  const { architecture, ...extra } = input.saelens;
  const cfg = buildSaeLensCfg({
    architecture,
    d_in: input.dIn,
    d_sae: input.config.d_sae,
    extra,
    metadata: { trained_with: 'sae-workbench', dataset: input.datasetName, workbench_architecture: input.config.architecture },
  });
  const files = buildSaeLensExport({ tensors: input.tensors, cfg, firingFraction: input.firingFraction });
  const enc = new TextEncoder();
  files['log.csv'] = enc.encode(metricRowsToCsv(input.rows));
  files['run_config.json'] = enc.encode(JSON.stringify(input.config, null, 2) + '\n');
  return files;
}
