// Import of a SAELens directory (cfg.json + sae_weights.safetensors [+ sparsity.safetensors]
// [+ run_config.json of a workbench run]): which of our architectures it is, the config to
// evaluate it or continue training it, and the tensors exactly as stored (so that export →
// import → export gives the same bytes).
import type { ConfigInput, SaeConfig } from '../engine/config';
import { variantDeclaration, variantDeclarations } from '../engine/variants/catalog';
import type { F32Tensor } from '../io/safetensors';
import { readSaeLensExport } from '../io/saelens';
import { readSafetensors } from '../io/safetensors';
import { histogram } from '../engine/normHistogram';

export class SaeImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SaeImportError';
  }
}

/** An SAE imported from a SAELens directory (cfg.json + sae_weights.safetensors [+ sparsity]). */
export interface ImportedSaeInfo {
  /** The SAELens architecture name in cfg.json. */
  saelensArchitecture: string;
  /** Our architecture it loads as, and the config used to evaluate or continue training it. */
  config: SaeConfig;
  dIn: number;
  dSae: number;
  tensors: { name: string; shape: number[]; dtype: string }[];
  /** log10 feature density histogram from sparsity.safetensors, when present. */
  density?: { edges: number[]; counts: number[] };
  /** cfg.json fields worth showing (hook, model, normalisation, version). */
  cfg: Record<string, unknown>;
  /** Conversions made on import, in words (e.g. apply_b_dec_to_input folded into b_enc). */
  notes: string[];
  /** True when run_config.json of a workbench run came with it (the full training config). */
  hasRunConfig: boolean;
}

export interface ImportedSae {
  info: Omit<ImportedSaeInfo, 'config'>;
  /** The config to resolve against the loaded data (guidance dropped: labels do not travel). */
  configInput: ConfigInput;
  tensors: Record<string, F32Tensor>;
}

/** The variant a SAELens cfg.json architecture imports as, when no workbench metadata says otherwise (declarations' `saelens.importFrom`). */
function fromSaeLens(saelensArchitecture: string): string | undefined {
  return variantDeclarations().find((d) => d.saelens.importFrom?.includes(saelensArchitecture))?.architecture;
}

/** cfg.json fields that are config fields of the variant (k, classic's hidden_dim, …), for its config. */
function declaredFields(architecture: string, cfg: Record<string, unknown>): Record<string, unknown> {
  const fields = variantDeclaration(architecture)?.fields ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(fields)) {
    const v = cfg[key];
    const fits = spec.type === 'number' ? typeof v === 'number' : spec.type === 'choice' ? typeof v === 'string' : spec.type === 'boolean' ? typeof v === 'boolean' : Array.isArray(v);
    if (fits) out[key] = v;
  }
  return out;
}

export interface SaeDirectoryFiles {
  cfg: ArrayBuffer;
  weights: ArrayBuffer;
  sparsity?: ArrayBuffer;
  runConfig?: ArrayBuffer;
}

/** cfg.json fields that say which model, hook and inputs the SAE was trained on. */
const SOURCE_KEYS = ['model_name', 'hook_name', 'hook_layer', 'hook_head_index', 'context_size', 'prepend_bos', 'model_from_pretrained_kwargs', 'dataset_path', 'sae_lens_training_version'];

export function importSaeLens(files: SaeDirectoryFiles): ImportedSae {
  let sae;
  try {
    sae = readSaeLensExport({ 'cfg.json': files.cfg, 'sae_weights.safetensors': files.weights });
  } catch (e) {
    throw new SaeImportError(`the SAE directory cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { cfg } = sae;
  const tensors = { ...sae.tensors };
  // Where the SAE reads the model: SAELens 6 keeps it in cfg.json's metadata, earlier versions (the
  // public releases such as gpt2-small-res-jb) at the top level.
  const metadata: Record<string, unknown> = {};
  for (const key of SOURCE_KEYS) if (cfg[key] !== undefined) metadata[key] = cfg[key];
  Object.assign(metadata, (cfg.metadata ?? {}) as Record<string, unknown>);
  const notes: string[] = [];
  const saelensArchitecture = String(cfg.architecture ?? 'standard');
  const dIn = Number(cfg.d_in);
  const dSae = Number(cfg.d_sae);
  if (!Number.isInteger(dIn) || !Number.isInteger(dSae) || dIn < 1 || dSae < 1) {
    throw new SaeImportError(`cfg.json gives d_in ${String(cfg.d_in)} and d_sae ${String(cfg.d_sae)}; both must be positive integers.`);
  }

  let configInput: ConfigInput;
  let hasRunConfig = false;
  if (files.runConfig) {
    try {
      configInput = JSON.parse(new TextDecoder().decode(files.runConfig)) as ConfigInput;
    } catch (e) {
      throw new SaeImportError(`run_config.json is not valid JSON (${(e as Error).message}); drop the directory without it to import the weights alone.`);
    }
    hasRunConfig = true;
  } else {
    const ours = typeof metadata.workbench_architecture === 'string' ? metadata.workbench_architecture : fromSaeLens(saelensArchitecture);
    if (!ours) {
      const loadable = [...new Set(variantDeclarations().flatMap((d) => d.saelens.importFrom ?? []))].join(', ');
      throw new SaeImportError(`cfg.json architecture "${saelensArchitecture}" is not one the workbench can load (SAELens ${loadable}, or a workbench export with its run_config.json).`);
    }
    configInput = { architecture: ours, d_sae: dSae, ...declaredFields(ours, cfg) };
  }
  // Guidance labels are the user's files, not part of an SAE.
  const input = configInput as Record<string, unknown>;
  input.guidance = [];

  // The weights take what cfg.json says they take.
  const norm = String(cfg.normalize_activations ?? 'none');
  if (norm === 'layer_norm') input.normalize = 'per_token';
  else {
    input.normalize = 'none';
    if (metadata.dataset_norm_scale_folded !== undefined) notes.push(`the dataset-norm scale ${String(metadata.dataset_norm_scale_folded)} is folded into the weights: they take raw activations`);
    else if (norm !== 'none') notes.push(`cfg.json normalize_activations is "${norm}", which the workbench does not apply: evaluate on activations normalised the same way`);
    else if (Array.isArray(metadata.dataset_norm_scale)) notes.push(`trained with per-layer dataset-norm scales ${JSON.stringify(metadata.dataset_norm_scale)} that are not folded into the weights: multiply each layer's activations by its scale before evaluating`);
  }
  if (cfg.apply_b_dec_to_input === false && tensors.W_enc && tensors.b_dec) {
    // Our encoders compute (x − b_dec)·W_enc + b: fold b_dec·W_enc into the encoder biases.
    const shift = new Float32Array(dSae);
    const W = tensors.W_enc.data;
    const b = tensors.b_dec.data;
    for (let i = 0; i < dIn; i++) for (let j = 0; j < dSae; j++) shift[j] += b[i] * W[i * dSae + j];
    for (const bias of ['b_enc', 'b_gate', 'b_mag']) {
      const t = tensors[bias];
      if (t && t.data.length === dSae) tensors[bias] = { shape: t.shape, data: t.data.map((v, j) => v + shift[j]) };
    }
    notes.push('apply_b_dec_to_input is false: b_dec·W_enc was added to the encoder bias so the SAE computes the same latents');
  }

  let density: ImportedSaeInfo['density'];
  if (files.sparsity) {
    try {
      const { tensors: s } = readSafetensors(files.sparsity, 'sparsity.safetensors');
      const values = s.sparsity?.data;
      if (values) {
        // log10 densities are ≤ 0; shift to a non-negative axis for the equal-width histogram.
        const lo = Math.max(-10, Math.min(...values));
        const h = histogram(Float32Array.from(values, (v) => Math.max(v, lo) - lo), 30);
        density = { edges: h.edges.map((e) => e + lo), counts: h.counts };
      }
    } catch (e) {
      notes.push(`sparsity.safetensors was ignored: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const shown: Record<string, unknown> = {};
  for (const key of ['architecture', 'd_in', 'd_sae', 'k', 'normalize_activations', 'apply_b_dec_to_input', 'dtype']) if (cfg[key] !== undefined) shown[key] = cfg[key];
  for (const key of ['model_name', 'hook_name', 'hook_head_index', 'context_size', 'prepend_bos', 'model_from_pretrained_kwargs', 'sae_lens_version', 'sae_lens_training_version', 'trained_with', 'dataset', 'dataset_path', 'workbench_architecture']) if (metadata[key] !== undefined) shown[key] = metadata[key];
  return {
    info: {
      saelensArchitecture, dIn, dSae,
      tensors: Object.entries(tensors).map(([name, t]) => ({ name, shape: t.shape, dtype: 'F32' })),
      density, cfg: shown, notes, hasRunConfig,
    },
    configInput,
    tensors,
  };
}
