// SAELens v6 export: sae_weights.safetensors + cfg.json (+ sparsity.safetensors), and the reverse.
import { zipSync } from 'fflate';
import { readSafetensors, writeSafetensors, type F32Tensor } from './safetensors';

/** A 6.x version: without `metadata.sae_lens_version` SAELens reads a cfg as the legacy v5 format. */
export const SAE_LENS_VERSION = '6.5.1';

export interface SaeLensCfgOptions {
  architecture: string;
  d_in: number;
  d_sae: number;
  /** Architecture-specific fields, e.g. topk's k. */
  extra?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

export function buildSaeLensCfg(o: SaeLensCfgOptions): Record<string, unknown> {
  return {
    architecture: o.architecture,
    d_in: o.d_in,
    d_sae: o.d_sae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: true,
    normalize_activations: 'none',
    reshape_activations: 'none',
    ...o.extra,
    metadata: {
      sae_lens_version: SAE_LENS_VERSION,
      model_name: 'unknown_model',
      hook_name: 'unknown_hook',
      ...o.metadata,
    },
  };
}

/**
 * cfg.json architectures whose tensors follow SAELens's affine layout (W_enc [d_in, d_sae], …):
 * SAELens's own, and the workbench's names a variant declaration marks as affine
 * (src/engine/variants/catalog.ts calls registerAffineArchitecture when it registers one).
 */
const AFFINE_LAYOUT = new Set(['standard', 'topk', 'jumprelu', 'gated', 'batchtopk']);

/** Check the shapes of exports and imports under this cfg.json architecture as the affine layout. */
export function registerAffineArchitecture(architecture: string): void {
  AFFINE_LAYOUT.add(architecture);
}

/** `from`: where d_in and d_sae came from, for the message (an import's cfg.json, or the run being exported). */
function checkShapes(tensors: Record<string, F32Tensor>, dIn: number, dSae: number, architecture: unknown, from: 'cfg.json' | 'export' = 'export'): void {
  if (Object.keys(tensors).length === 0) throw new Error('an SAE export needs at least one tensor.');
  // Our own multi-layer and 2-layer architectures have other shapes (documented in the README).
  if (!AFFINE_LAYOUT.has(String(architecture))) return;
  const expected: Record<string, number[]> = { W_enc: [dIn, dSae], W_dec: [dSae, dIn], b_enc: [dSae], b_dec: [dIn], threshold: [dSae] };
  for (const [name, shape] of Object.entries(expected)) {
    const t = tensors[name];
    if (t && t.shape.join(',') !== shape.join(',')) {
      const why = from === 'cfg.json' ? ' (from cfg.json)' : '';
      const fix = from === 'cfg.json' ? '; the cfg.json and the weights are of different SAEs — use the cfg.json saved with these weights.' : '.';
      throw new Error(`tensor ${name} has shape [${t.shape.join(', ')}] but d_in ${dIn}, d_sae ${dSae}${why} need [${shape.join(', ')}]${fix}`);
    }
  }
  for (const name of ['W_enc', 'W_dec', 'b_dec']) if (!tensors[name]) throw new Error(`an SAELens export needs tensor ${name}.`);
}

export function buildSaeLensExport(input: { tensors: Record<string, F32Tensor>; cfg: Record<string, unknown>; firingFraction?: Float32Array }): Record<string, Uint8Array> {
  const dIn = Number(input.cfg.d_in);
  const dSae = Number(input.cfg.d_sae);
  checkShapes(input.tensors, dIn, dSae, input.cfg.architecture);
  const files: Record<string, Uint8Array> = {
    'sae_weights.safetensors': writeSafetensors(input.tensors),
    'cfg.json': new TextEncoder().encode(JSON.stringify(input.cfg, null, 2) + '\n'),
  };
  if (input.firingFraction) {
    const sparsity = Float32Array.from(input.firingFraction, (f) => Math.log10(f + 1e-10));
    files['sparsity.safetensors'] = writeSafetensors({ sparsity: { shape: [sparsity.length], data: sparsity } });
  }
  return files;
}

export function zipFiles(files: Record<string, Uint8Array>): Uint8Array {
  return zipSync(files, { level: 6 });
}

/** Parse cfg.json + sae_weights.safetensors of an exported directory. */
export function readSaeLensExport(files: Record<string, ArrayBuffer>): { cfg: Record<string, unknown>; tensors: Record<string, F32Tensor> } {
  const cfgBuf = files['cfg.json'];
  const weights = files['sae_weights.safetensors'];
  if (!cfgBuf || !weights) throw new Error('an SAELens directory needs cfg.json and sae_weights.safetensors.');
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(new TextDecoder().decode(cfgBuf));
  } catch (e) {
    throw new Error(`cfg.json is not valid JSON (${(e as Error).message}); it must be the SAELens config object ({"architecture": …, "d_in": …, "d_sae": …}) saved with the weights — re-export the SAE or fix the syntax.`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new Error('cfg.json is not a JSON object; it must be the SAELens config object ({"architecture": …, "d_in": …, "d_sae": …}) saved with the weights.');
  for (const key of ['d_in', 'd_sae']) {
    const v = cfg[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new Error(`cfg.json ${v === undefined ? `has no ${key}` : `gives ${key} ${JSON.stringify(v)}`}; a SAELens cfg.json gives d_in and d_sae as positive integers — use the cfg.json saved with these weights.`);
    }
  }
  const { tensors } = readSafetensors(weights, 'sae_weights.safetensors');
  checkShapes(tensors, Number(cfg.d_in), Number(cfg.d_sae), cfg.architecture, 'cfg.json');
  return { cfg, tensors };
}
