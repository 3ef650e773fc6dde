// Hugging Face model folders: config.json + model.safetensors (or shards listed by
// model.safetensors.index.json), read into the engine's transformer description
// (./transformerWeights.ts). Families by config.json's model_type:
//   gpt2      — Conv1D weights stored [in, out], fused c_attn (q | k | v columns), learned positions,
//               unembedding tied to wte; the attn.bias / masked_bias buffers are ignored; keys with
//               or without the "transformer." prefix.
//   gpt_neox  — Pythia: query_key_value rows interleaved per head ([heads, 3, head_size] on the
//               output axis), rotary on the first rotary_pct of each head in rotate_half layout,
//               parallel residual, untied embed_out.
//   llama, qwen2, mistral — RMSNorm, rotate_half RoPE at rope_theta, grouped-query attention,
//               SwiGLU, q/k/v (and o) biases where the checkpoint has them, tie_word_embeddings.
// nn.Linear weights are [out, in] and are transposed to [in, out]. F32, F16 and BF16 are read
// (./safetensors.ts) and held as float32.
import { decodeFloat32, indexArrayFile, readArrayBytes, type ArrayLayout, type ReadRange } from './arrayFile';
import { SafetensorsError, readSafetensors, type ReadTensor } from './safetensors';
import { parameterCount, transpose, type BlockWeights, type LinearWeights, type ModelFamily, type NormWeights, type TransformerArch, type TransformerWeights } from './transformerWeights';

export class HfModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HfModelError';
  }
}

export const HF_MODEL_TYPES = ['gpt2', 'gpt_neox', 'llama', 'qwen2', 'mistral'] as const;

const FAMILY: Record<string, ModelFamily> = { gpt2: 'gpt2', gpt_neox: 'gpt_neox', llama: 'llama', qwen2: 'llama', mistral: 'llama' };

const GET_FILES = 'Download every file of the model folder from the Hugging Face Hub (config.json, the .safetensors weights and, for sharded checkpoints, model.safetensors.index.json) and drop them together.';

export interface HfModel {
  /** The folder's name (or "config.json" when only files were given). */
  name: string;
  config: Record<string, unknown>;
  weights: TransformerWeights;
  parameters: number;
  /** Stored dtypes of the weights (e.g. ["BF16"]). */
  dtypes: string[];
  /** The weight files read, in order. */
  files: string[];
}

type Json = Record<string, unknown>;

/** config.json → the architecture (every choice the forward makes), or a message naming what is wrong. */
export function hfArchitecture(config: Json, name = 'config.json'): TransformerArch {
  const modelType = config.model_type;
  if (typeof modelType !== 'string') throw new HfModelError(`${name} has no model_type; it is not a Hugging Face transformers config. Give the config.json of the model folder.`);
  const family = FAMILY[modelType];
  if (!family) throw new HfModelError(`${name} is a ${modelType} model; the workbench runs ${HF_MODEL_TYPES.join(', ')} (and llama2.c .bin checkpoints). Convert the model, or choose one of these families.`);
  const int = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new HfModelError(`${name}: ${key} is ${JSON.stringify(config[key])}; a ${modelType} config needs it as a positive integer.`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new HfModelError(`${name}: ${key} is ${JSON.stringify(config[key])}; expected a number.`);
    return v;
  };
  let arch: TransformerArch;
  if (family === 'gpt2') {
    const dim = int('n_embd');
    const nHeads = int('n_head');
    const act = config.activation_function ?? 'gelu_new';
    const mlp = act === 'gelu_new' || act === 'gelu_pytorch_tanh' ? 'gelu_tanh' : act === 'gelu' ? 'gelu' : null;
    if (!mlp) throw new HfModelError(`${name}: activation_function ${JSON.stringify(act)} is not one the workbench runs (gelu_new, gelu_pytorch_tanh, gelu).`);
    if (config.scale_attn_by_inverse_layer_idx === true) throw new HfModelError(`${name}: scale_attn_by_inverse_layer_idx is true; the workbench runs GPT-2's standard attention scaling only.`);
    arch = {
      family, modelType, dim, nLayers: int('n_layer'), nHeads, nKvHeads: nHeads, headSize: dim / nHeads,
      hiddenDim: config.n_inner == null ? 4 * dim : int('n_inner'), vocabSize: int('vocab_size'),
      seqLen: int('n_positions', config.n_ctx as number | undefined), norm: 'layernorm', normEps: num('layer_norm_epsilon', 1e-5),
      positions: 'learned', mlp, parallelResidual: false,
    };
  } else if (family === 'gpt_neox') {
    const dim = int('hidden_size');
    const nHeads = int('num_attention_heads');
    const headSize = dim / nHeads;
    const act = config.hidden_act ?? 'gelu';
    const mlp = act === 'gelu' ? 'gelu' : act === 'gelu_new' || act === 'gelu_pytorch_tanh' ? 'gelu_tanh' : null;
    if (!mlp) throw new HfModelError(`${name}: hidden_act ${JSON.stringify(act)} is not one the workbench runs (gelu, gelu_new).`);
    noRopeScaling(config, name);
    const pct = num('rotary_pct', 1);
    arch = {
      family, modelType, dim, nLayers: int('num_hidden_layers'), nHeads, nKvHeads: nHeads, headSize,
      hiddenDim: int('intermediate_size'), vocabSize: int('vocab_size'), seqLen: int('max_position_embeddings'),
      norm: 'layernorm', normEps: num('layer_norm_eps', 1e-5), positions: 'rotary',
      // As GPTNeoX's rotary embedding: int(head_size · rotary_pct) dimensions turn.
      rotary: { dims: Math.floor(headSize * pct), theta: num('rotary_emb_base', num('rope_theta', 10000)), layout: 'half' },
      mlp, parallelResidual: config.use_parallel_residual !== false,
    };
  } else {
    const dim = int('hidden_size');
    const nHeads = int('num_attention_heads');
    const headSize = config.head_dim == null ? dim / nHeads : int('head_dim');
    const act = config.hidden_act ?? 'silu';
    if (act !== 'silu') throw new HfModelError(`${name}: hidden_act ${JSON.stringify(act)}; the workbench runs Llama-family MLPs with silu only.`);
    noRopeScaling(config, name);
    arch = {
      family, modelType, dim, nLayers: int('num_hidden_layers'), nHeads, nKvHeads: int('num_key_value_heads', nHeads), headSize,
      hiddenDim: int('intermediate_size'), vocabSize: int('vocab_size'), seqLen: int('max_position_embeddings'),
      norm: 'rmsnorm', normEps: num('rms_norm_eps', 1e-6), positions: 'rotary',
      rotary: { dims: headSize, theta: num('rope_theta', 10000), layout: 'half' }, mlp: 'swiglu', parallelResidual: false,
    };
  }
  if (!Number.isInteger(arch.headSize) || arch.headSize % 2 !== 0) throw new HfModelError(`${name}: the head size ${arch.headSize} (width ${arch.dim} / ${arch.nHeads} heads) is not an even integer.`);
  if (arch.nHeads % arch.nKvHeads !== 0) throw new HfModelError(`${name}: num_key_value_heads ${arch.nKvHeads} does not divide num_attention_heads ${arch.nHeads}.`);
  if (arch.rotary && (arch.rotary.dims % 2 !== 0 || arch.rotary.dims <= 0)) throw new HfModelError(`${name}: ${arch.rotary.dims} rotary dimensions per head; it must be a positive even number.`);
  return arch;
}

function noRopeScaling(config: Json, name: string): void {
  const s = config.rope_scaling as Json | null | undefined;
  if (s == null) return;
  const kind = s.rope_type ?? s.type;
  if (kind === 'default') return;
  throw new HfModelError(`${name}: rope_scaling ${JSON.stringify(kind)} is not supported yet; the workbench runs models with plain RoPE (rope_scaling null), such as SmolLM2, TinyLlama, Qwen2 and Pythia.`);
}

/** The weight files a folder's index lists, in order, or ["model.safetensors"]. */
export function weightFilesOf(index: Json | null, name = 'model.safetensors.index.json'): string[] {
  if (!index) return ['model.safetensors'];
  const map = index.weight_map;
  if (!map || typeof map !== 'object') throw new HfModelError(`${name} has no weight_map; it is not a safetensors index. Re-download it with the shards.`);
  return [...new Set(Object.values(map as Record<string, unknown>).map(String))].sort();
}

/** Buffers some checkpoints carry that are not weights (GPT-2's and GPT-NeoX's causal masks, NeoX's inv_freq): never read. */
const NOT_WEIGHTS = /\.(attn|attention)\.(bias|masked_bias)$|\.rotary_emb\.inv_freq$/;

/** A weight file that is read a range at a time (a dropped File, a file on disk). */
export interface WeightSource {
  size: number;
  read: ReadRange;
}

/** The folder's config, index and weight-file list, or a message naming what is missing. */
function folderPlan(config: Uint8Array | undefined, indexBytes: Uint8Array | undefined, has: (file: string) => boolean, folder: string, others: ReadonlySet<string>) {
  if (!config) throw new HfModelError(`${folder} has no config.json. ${GET_FILES}`);
  const cfg = parseJson(config, 'config.json');
  const arch = hfArchitecture(cfg);
  const index = indexBytes ? parseJson(indexBytes, 'model.safetensors.index.json') : null;
  const weightFiles = weightFilesOf(index);
  for (const file of weightFiles) {
    if (has(file)) continue;
    const listed = index ? Object.values(index.weight_map as Json).filter((f) => f === file).length : 0;
    throw new HfModelError(index
      ? `${file} is missing: model.safetensors.index.json lists it for ${listed} tensor${listed === 1 ? '' : 's'}. ${GET_FILES}`
      : `${folder} has no model.safetensors (nor model.safetensors.index.json for a sharded checkpoint). ${others.has('pytorch_model.bin') ? 'It holds pytorch_model.bin, a pickle the workbench does not read: convert it with safetensors\' convert script or download the .safetensors revision. ' : ''}${GET_FILES}`);
  }
  return { config: cfg, arch, weightFiles };
}

/**
 * Read a model folder from its files by base name, all in memory: config.json, model.safetensors
 * or the shards with model.safetensors.index.json. Tokenizer files are read elsewhere
 * (./hfTokenizer.ts). readHfModel reads large folders a tensor at a time.
 */
export function parseHfModel(files: ReadonlyMap<string, Uint8Array>, folder = 'the model folder'): HfModel {
  const { config, arch, weightFiles } = folderPlan(files.get('config.json'), files.get('model.safetensors.index.json'), (f) => files.has(f), folder, new Set(files.keys()));
  const tensors = new Map<string, ReadTensor & { file: string }>();
  for (const file of weightFiles) {
    const bytes = files.get(file)!;
    let read;
    try {
      const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer as ArrayBuffer : bytes.slice().buffer;
      read = readSafetensors(buffer, file);
    } catch (e) {
      if (e instanceof SafetensorsError) throw new HfModelError(`${e.message}`);
      throw e;
    }
    for (const [key, t] of Object.entries(read.tensors)) if (!NOT_WEIGHTS.test(key)) tensors.set(key, { ...t, file });
  }
  return finish(folder, config, arch, tensors, weightFiles);
}

/** What loading a folder will hold, known from the weight files' headers before any weight is read. */
export interface HfLoadPlan {
  /** Weights to read, as stored. */
  storedBytes: number;
  /** The same weights as float32, as the engine holds them. */
  float32Bytes: number;
  parameters: number;
}

/**
 * Read a model folder a tensor at a time from its weight files (only the weights: mask buffers are
 * skipped), checking every file's header against its size before any weight is read.
 * `onPlan` hears the sizes first (it may throw to refuse the load); `onProgress` the bytes read.
 */
export async function readHfModel(
  input: { config?: Uint8Array; index?: Uint8Array; weights: ReadonlyMap<string, WeightSource>; others?: ReadonlySet<string> },
  folder = 'the model folder',
  hooks: { onPlan?: (plan: HfLoadPlan) => void; onProgress?: (doneBytes: number, totalBytes: number) => void } = {},
): Promise<HfModel> {
  const { config, arch, weightFiles } = folderPlan(input.config, input.index, (f) => input.weights.has(f), folder, input.others ?? new Set());
  const layouts: { file: string; layout: ArrayLayout; source: WeightSource }[] = [];
  for (const file of weightFiles) {
    const source = input.weights.get(file)!;
    let index;
    try {
      index = await indexArrayFile(file, source.size, source.read);
    } catch (e) {
      throw new HfModelError(e instanceof Error ? e.message : String(e));
    }
    if (index.format !== 'safetensors') throw new HfModelError(`${file} is not a .safetensors file (it reads as ${index.format}). ${GET_FILES}`);
    for (const layout of index.arrays) if (!NOT_WEIGHTS.test(layout.name)) layouts.push({ file, layout, source });
  }
  const storedBytes = layouts.reduce((n, l) => n + l.layout.byteLength, 0);
  const parameters = layouts.reduce((n, l) => n + l.layout.shape.reduce((a, b) => a * b, 1), 0);
  hooks.onPlan?.({ storedBytes, float32Bytes: 4 * parameters, parameters });
  // Said before the first weight is read: what is about to load.
  hooks.onProgress?.(0, storedBytes);
  const tensors = new Map<string, ReadTensor & { file: string }>();
  let done = 0;
  for (const { file, layout, source } of layouts) {
    if (!['float32', 'float16', 'bfloat16'].includes(layout.dtype)) throw new HfModelError(`${file}: tensor ${layout.name} is ${layout.dtype}; the workbench reads F32, F16 and BF16 weights. ${GET_FILES}`);
    const bytes = await readArrayBytes(layout, source.read, file).catch((e) => { throw new HfModelError(e instanceof Error ? e.message : String(e)); });
    // An aligned F32 tensor decodes to a view of the bytes just read for it alone: no copy.
    tensors.set(layout.name, { dtype: STORED[layout.dtype], shape: layout.shape, data: decodeFloat32(bytes, layout.dtype), file });
    done += layout.byteLength;
    hooks.onProgress?.(done, storedBytes);
  }
  return finish(folder, config, arch, tensors, weightFiles);
}

const STORED: Record<string, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };

function finish(folder: string, config: Json, arch: TransformerArch, tensors: Map<string, ReadTensor & { file: string }>, weightFiles: string[]): HfModel {
  const weights = assemble(arch, config, tensors, weightFiles.length === 1 ? weightFiles[0] : 'the shards');
  const dtypes = [...new Set([...tensors.values()].map((t) => t.dtype))].sort();
  return { name: folder, config, weights, parameters: parameterCount(weights), dtypes, files: weightFiles };
}

function parseJson(bytes: Uint8Array, name: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new HfModelError(`${name} is not valid JSON (${(e as Error).message}). ${GET_FILES}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new HfModelError(`${name} is not a JSON object. ${GET_FILES}`);
  return v as Json;
}

/** Tensors by name → the transformer description, checking every name and shape the family needs. */
function assemble(a: TransformerArch, config: Json, tensors: Map<string, ReadTensor & { file: string }>, where: string): TransformerWeights {
  const D = a.dim, F = a.hiddenDim, V = a.vocabSize, hs = a.headSize;
  const qW = a.nHeads * hs, kvW = a.nKvHeads * hs;
  // GPT-2's keys may carry the prefix GPT2LMHeadModel writes.
  const prefix = a.family === 'gpt2' && !tensors.has('wte.weight') && tensors.has('transformer.wte.weight') ? 'transformer.' : '';
  const what = `a ${a.modelType} model with width ${D}, ${a.nLayers} layers and vocabulary ${V} (config.json)`;
  const get = (key: string, shape: number[]): Float32Array => {
    const t = tensors.get(prefix + key);
    if (!t) throw new HfModelError(`${where} has no tensor ${prefix + key}, which ${what} needs. The weights are incomplete or belong to another config: ${GET_FILES}`);
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
      throw new HfModelError(`${t.file}: tensor ${prefix + key} has shape [${t.shape.join(', ')}], but ${what} needs [${shape.join(', ')}]. The weights and config.json come from different models: ${GET_FILES}`);
    }
    return t.data;
  };
  const has = (key: string) => tensors.has(prefix + key);
  /** nn.Linear [out, in] (+ bias when stored) → [in, out]. */
  const linear = (key: string, out: number, inn: number, bias: boolean | 'if-present'): LinearWeights => {
    const w = transpose(get(`${key}.weight`, [out, inn]), out, inn);
    const withBias = bias === 'if-present' ? has(`${key}.bias`) : bias;
    return withBias ? { w, bias: get(`${key}.bias`, [out]) } : { w };
  };
  const norm = (key: string, bias: boolean): NormWeights => (bias ? { weight: get(`${key}.weight`, [D]), bias: get(`${key}.bias`, [D]) } : { weight: get(`${key}.weight`, [D]) });
  const blocks: BlockWeights[] = [];
  let embedding: Float32Array, positions: Float32Array | undefined, lnFinal: NormWeights, unembed: LinearWeights, tied: boolean;
  if (a.family === 'gpt2') {
    embedding = get('wte.weight', [V, D]);
    positions = get('wpe.weight', [a.seqLen, D]);
    for (let l = 0; l < a.nLayers; l++) {
      const p = `h.${l}`;
      // Conv1D: weight [in, out] already; c_attn's columns are q | k | v.
      const cAttn = get(`${p}.attn.c_attn.weight`, [D, 3 * D]);
      const cAttnBias = get(`${p}.attn.c_attn.bias`, [3 * D]);
      const part = (k: number): LinearWeights => ({ w: columns(cAttn, D, 3 * D, k * D, (k + 1) * D), bias: cAttnBias.slice(k * D, (k + 1) * D) });
      blocks.push({
        ln1: norm(`${p}.ln_1`, true),
        ln2: norm(`${p}.ln_2`, true),
        q: part(0), k: part(1), v: part(2),
        o: { w: get(`${p}.attn.c_proj.weight`, [D, D]), bias: get(`${p}.attn.c_proj.bias`, [D]) },
        up: { w: get(`${p}.mlp.c_fc.weight`, [D, F]), bias: get(`${p}.mlp.c_fc.bias`, [F]) },
        down: { w: get(`${p}.mlp.c_proj.weight`, [F, D]), bias: get(`${p}.mlp.c_proj.bias`, [D]) },
      });
    }
    lnFinal = norm('ln_f', true);
    unembed = { w: transpose(embedding, V, D) };
    tied = true;
  } else if (a.family === 'gpt_neox') {
    embedding = get('gpt_neox.embed_in.weight', [V, D]);
    for (let l = 0; l < a.nLayers; l++) {
      const p = `gpt_neox.layers.${l}`;
      const qkv = get(`${p}.attention.query_key_value.weight`, [3 * D, D]);
      const qkvBias = has(`${p}.attention.query_key_value.bias`) ? get(`${p}.attention.query_key_value.bias`, [3 * D]) : undefined;
      // Output rows are [heads, 3, head_size]: row h·3·hs + j·hs + d is part j (q, k, v) of head h.
      const part = (j: number): LinearWeights => {
        const w = new Float32Array(D * D);
        const b = qkvBias ? new Float32Array(D) : undefined;
        for (let h = 0; h < a.nHeads; h++) {
          for (let d = 0; d < hs; d++) {
            const src = (h * 3 + j) * hs + d;
            w.set(qkv.subarray(src * D, (src + 1) * D), (h * hs + d) * D);
            if (b) b[h * hs + d] = qkvBias![src];
          }
        }
        return b ? { w: transpose(w, D, D), bias: b } : { w: transpose(w, D, D) };
      };
      blocks.push({
        ln1: norm(`${p}.input_layernorm`, true),
        ln2: norm(`${p}.post_attention_layernorm`, true),
        q: part(0), k: part(1), v: part(2),
        o: linear(`${p}.attention.dense`, D, D, 'if-present'),
        up: linear(`${p}.mlp.dense_h_to_4h`, F, D, 'if-present'),
        down: linear(`${p}.mlp.dense_4h_to_h`, D, F, 'if-present'),
      });
    }
    lnFinal = norm('gpt_neox.final_layer_norm', true);
    tied = false;
    unembed = linear('embed_out', V, D, false);
  } else {
    embedding = get('model.embed_tokens.weight', [V, D]);
    for (let l = 0; l < a.nLayers; l++) {
      const p = `model.layers.${l}`;
      blocks.push({
        ln1: norm(`${p}.input_layernorm`, false),
        ln2: norm(`${p}.post_attention_layernorm`, false),
        q: linear(`${p}.self_attn.q_proj`, qW, D, 'if-present'),
        k: linear(`${p}.self_attn.k_proj`, kvW, D, 'if-present'),
        v: linear(`${p}.self_attn.v_proj`, kvW, D, 'if-present'),
        o: linear(`${p}.self_attn.o_proj`, D, qW, 'if-present'),
        gate: linear(`${p}.mlp.gate_proj`, F, D, 'if-present'),
        up: linear(`${p}.mlp.up_proj`, F, D, 'if-present'),
        down: linear(`${p}.mlp.down_proj`, D, F, 'if-present'),
      });
    }
    lnFinal = norm('model.norm', false);
    // Tied models are saved without lm_head; one saved with it anyway holds the same matrix.
    tied = !has('lm_head.weight');
    if (tied && config.tie_word_embeddings === false) throw new HfModelError(`${where} has no lm_head.weight, and config.json says tie_word_embeddings false. ${GET_FILES}`);
    unembed = tied ? { w: transpose(embedding, V, D) } : linear('lm_head', V, D, false);
  }
  return { arch: a, embedding, positions, blocks, lnFinal, unembed, unembedTied: tied };
}

/** Columns [from, to) of a row-major [rows, cols] matrix. */
function columns(src: Float32Array, rows: number, cols: number, from: number, to: number): Float32Array {
  const width = to - from;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(src.subarray(r * cols + from, r * cols + to), r * width);
  return out;
}
