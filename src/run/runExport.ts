// Everything a finished (or paused) run exports, as named files: the SAELens directory
// (sae_weights.safetensors, cfg.json, sparsity.safetensors), the training log CSV and the run
// config JSON that reproduces the run, and a Python script that reproduces it at scale with
// SAELens's training runner. Shared by the worker and the CLI.
import type { SaeConfig } from '../engine/config';
import { foldDatasetNorm, type Normalization } from '../engine/normalize';
import type { MetricRow } from '../engine/types';
import { metricRowsToCsv } from './logCsv';
import { buildSaeLensCfg, buildSaeLensExport } from '../io/saelens';
import { saelensTrainingScript } from './saelensScript';

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
  /** The input normalisation the run trained with (default none). */
  normalization?: Normalization;
  /** Where the activations came from, when known (a language model loaded in the workbench). */
  source?: { modelName: string; hookName: string; contextSize: number; prependBos: boolean; centred: boolean; hookNames?: string[] };
}

/**
 * How the export undoes the input normalisation: per_token is SAELens's own `layer_norm`;
 * a single dataset_norm scale is folded into the affine weights; anything else (several layers'
 * scales, a layout that cannot fold) is recorded for our own loader and documented.
 */
function exportNormalization(input: RunExportInput): { tensors: RunExportInput['tensors']; normalize: string; metadata: Record<string, unknown> } {
  const n = input.normalization ?? { mode: 'none' };
  if (n.mode === 'none') return { tensors: input.tensors, normalize: 'none', metadata: {} };
  if (n.mode === 'per_token') return { tensors: input.tensors, normalize: 'layer_norm', metadata: { workbench_normalize: 'per_token' } };
  const tensors = { ...input.tensors };
  if (n.scale.length === 1 && foldDatasetNorm(tensors, n.scale[0])) {
    return { tensors, normalize: 'none', metadata: { workbench_normalize: 'dataset_norm', dataset_norm_scale_folded: n.scale[0] } };
  }
  return { tensors: input.tensors, normalize: 'none', metadata: { workbench_normalize: 'dataset_norm', dataset_norm_scale: n.scale } };
}

export function buildRunExport(input: RunExportInput): Record<string, Uint8Array> {
  const { architecture, ...extra } = input.saelens;
  const norm = exportNormalization(input);
  const cfg = buildSaeLensCfg({
    architecture,
    d_in: input.dIn,
    d_sae: input.config.d_sae,
    extra: { ...extra, normalize_activations: norm.normalize },
    metadata: {
      trained_with: 'sae-workbench', dataset: input.datasetName, workbench_architecture: input.config.architecture, ...norm.metadata,
      ...(input.source ? {
        model_name: input.source.modelName, hook_name: input.source.hookName, context_size: input.source.contextSize, prepend_bos: input.source.prependBos,
        // As SAELens records it: false unless the model ran with TransformerLens's centred writing weights.
        model_from_pretrained_kwargs: { center_writing_weights: input.source.centred },
        ...(input.source.hookNames ? { hook_names: input.source.hookNames } : {}),
      } : {}),
    },
  });
  const files = buildSaeLensExport({ tensors: norm.tensors, cfg, firingFraction: input.firingFraction });
  const enc = new TextEncoder();
  files['log.csv'] = enc.encode(metricRowsToCsv(input.rows));
  files['run_config.json'] = enc.encode(JSON.stringify(input.config, null, 2) + '\n');
  files['train_with_saelens.py'] = enc.encode(saelensTrainingScript({ config: input.config, dIn: input.dIn, datasetName: input.datasetName }));
  return files;
}
