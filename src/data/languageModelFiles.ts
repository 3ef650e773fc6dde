// Loading a dropped language model (a llama2.c .bin, or a Hugging Face folder's config.json,
// safetensors weights and tokenizer.json), its tokenizer and text files into a workspace.
// Turning those texts into activations is src/data/languageModel.ts; this only reads and checks
// the files, so that a model and tokenizer of different exports are refused with both names.
import { HfModelError, readHfModel } from '../io/hfModel';
import { readRangeOf } from './source';
import { parseHfTokenizer, type HfTokenizer } from '../io/hfTokenizer';
import { llama2cTransformer, parseLlama2cCheckpoint, parseLlama2cTokenizer, type Llama2cTokenizer } from '../io/llama2c';
import { float32Bytes, type ModelCheckpoint } from '../io/transformerWeights';
import { documentLimit, tokenizeCorpus } from './textCorpus';
import type { FileResult, SourceFile } from './types';
import { WorkspaceError, count, errorResult, type WorkspaceState } from './workspaceState';

/** The language-model files of one drop (recognised by src/data/fileRoles.ts). */
export interface LanguageModelFiles {
  /** A llama2.c checkpoint .bin. */
  model?: SourceFile;
  /** A llama2.c tokenizer .bin. */
  tokenizer?: SourceFile;
  /** The files of a Hugging Face model folder. */
  hf?: HfFolderFiles;
  texts: SourceFile[];
}

/** A Hugging Face model folder's files, by their role (names as the Hub spells them). */
export interface HfFolderFiles {
  /** The folder's name, when the files came with one (else "the model folder"). */
  folder: string;
  config?: SourceFile;
  /** model.safetensors, or the shards model-0000N-of-0000M.safetensors. */
  weights: SourceFile[];
  index?: SourceFile;
  tokenizer?: SourceFile;
  tokenizerConfig?: SourceFile;
  specialTokensMap?: SourceFile;
  /** Files of the folder the workbench does not need (pytorch_model.bin, vocab.json, …). */
  ignored: string[];
}

/** A Hugging Face model folder's weight files: model.safetensors or its shards. */
export const HF_WEIGHTS = /^model(-\d+-of-\d+)?\.safetensors$/;
/** Every file of a model folder the workbench reads. */
export const HF_MODEL_FILE = /^(config\.json|model(-\d+-of-\d+)?\.safetensors|model\.safetensors\.index\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json)$/;

/** Base name of a file (dropped folders and zips name files with their path). */
export function baseName(name: string): string {
  return name.split('/').pop() ?? name;
}

const bytesOf = async (f: SourceFile) => new Uint8Array(await f.blob.arrayBuffer());

/**
 * The float32 weights a tab can hold: the engine keeps them as float32 (a JavaScript copy and the
 * backend's), and WebAssembly's heap is 4 GiB at most. About 500M parameters: Pythia-70m to 410m,
 * GPT-2 small and medium, SmolLM2-135M and 360M fit.
 */
export const MODEL_FLOAT32_LIMIT = 2 * 2 ** 30;

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(bytes < 1e8 ? 3 : 2)} GB`;

/**
 * Read a Hugging Face folder's model (config.json + weights) into a checkpoint, a tensor at a time
 * from the files (never a whole file in memory), refusing before any weight is read a model whose
 * float32 weights exceed MODEL_FLOAT32_LIMIT. `onProgress` hears the bytes read.
 */
export async function readHfModelFiles(hf: HfFolderFiles, onProgress?: (label: string, done: number, total: number) => void, limit = MODEL_FLOAT32_LIMIT): Promise<{ checkpoint: ModelCheckpoint; config: Record<string, unknown>; storedBytes: number }> {
  if (!hf.config) throw new WorkspaceError(`${hf.weights.map((w) => w.name).join(', ')}: Hugging Face weights need their config.json; drop the whole model folder (config.json, the .safetensors and tokenizer.json).`);
  const weights = new Map(hf.weights.map((f) => [baseName(f.name), { size: f.blob.size, read: readRangeOf(f.blob) }]));
  let storedBytes = 0;
  let float32Held = 0;
  const model = await readHfModel(
    { config: await bytesOf(hf.config), index: hf.index ? await bytesOf(hf.index) : undefined, weights, others: new Set(hf.ignored) },
    hf.folder,
    {
      onPlan: (plan) => {
        storedBytes = plan.storedBytes;
        float32Held = plan.float32Bytes;
        if (plan.float32Bytes > limit) {
          throw new WorkspaceError(`${hf.folder} has ${count(plan.parameters)} parameters: ${gb(plan.float32Bytes)} as float32, which the engine holds them in, over the ${gb(limit)} a tab can hold (WebAssembly's heap is 4 GiB). Models up to about 500M parameters fit (GPT-2 small and medium, Pythia up to 410m, SmolLM2-135M and 360M).`);
        }
      },
      // The weights as float32 twice: the workspace's arrays and the backend's tensors.
      onProgress: (done, total) => onProgress?.(`reading ${hf.folder}'s weights: ${gb(total)}, about ${gb(2 * float32Held)} in memory once loaded`, done, total),
    },
  );
  return { checkpoint: { format: 'huggingface', config: model.weights.arch, weights: model.weights, parameters: model.parameters, dtypes: model.dtypes }, config: model.config, storedBytes };
}

/** Read a Hugging Face tokenizer.json (with tokenizer_config.json / special_tokens_map.json when given). */
export async function readHfTokenizerFiles(hf: HfFolderFiles): Promise<HfTokenizer> {
  return parseHfTokenizer(await bytesOf(hf.tokenizer!), hf.tokenizer!.name, {
    tokenizerConfig: hf.tokenizerConfig ? await bytesOf(hf.tokenizerConfig) : undefined,
    specialTokensMap: hf.specialTokensMap ? await bytesOf(hf.specialTokensMap) : undefined,
  });
}

function modelMessage(name: string, ck: ModelCheckpoint): string {
  const c = ck.config;
  const kind = ck.format === 'huggingface' ? `${c.modelType} model` : 'language model';
  return `${kind} ${name}: ${count(ck.parameters)} parameters${ck.format === 'huggingface' ? ` (${ck.dtypes.join(', ')})` : ''}, d_model ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads (${c.nKvHeads} key/value), vocab ${count(c.vocabSize)}, context ${c.seqLen}`;
}

/** A model (llama2.c or Hugging Face), its tokenizer and texts; texts are tokenised once both are present. */
export async function loadLanguageModelFiles(ws: WorkspaceState, files: LanguageModelFiles, onProgress?: (label: string, done: number, total: number) => void): Promise<FileResult[]> {
  const results: FileResult[] = [];
  // Texts are tokenised again only when the model or tokenizer was replaced (a refused file changes nothing).
  let replaced = false;
  if (files.model) {
    const file = files.model;
    try {
      const ckpt = parseLlama2cCheckpoint(new Uint8Array(await file.blob.arrayBuffer()), file.name);
      const weights = llama2cTransformer(ckpt);
      const checkpoint: ModelCheckpoint = { format: ckpt.format, config: weights.arch, weights, parameters: ckpt.parameters, dtypes: ['F32'] };
      setModel(ws, file.name, checkpoint, 'the model and the tokenizer of the same export');
      replaced = true;
      results.push({ name: file.name, kind: 'language_model', message: modelMessage(file.name, checkpoint) });
    } catch (e) {
      results.push(errorResult(file.name, e));
    }
  }
  const hf = files.hf;
  let folderFailed = false;
  if (hf && (hf.config || hf.weights.length || hf.index)) {
    const shown = hf.config?.name ?? hf.weights[0]?.name ?? hf.index!.name;
    try {
      const { checkpoint, storedBytes } = await readHfModelFiles(hf, onProgress);
      // The model is named by its folder when the files came in one.
      const name = hf.folder !== 'the model folder' ? hf.folder : shown;
      setModel(ws, name, checkpoint, 'the model folder\'s own tokenizer.json');
      replaced = true;
      const ignored = hf.ignored.length ? `; not needed: ${hf.ignored.join(', ')}` : '';
      const held = `; ${gb(storedBytes)} of weights read, held as ${gb(float32Bytes(checkpoint.weights))} of float32`;
      results.push({ name: shown, kind: 'language_model', message: modelMessage(name, checkpoint) + held + ignored });
    } catch (e) {
      results.push(errorResult(shown, e instanceof HfModelError ? new WorkspaceError(e.message) : e));
      folderFailed = true;
    }
  }
  if (hf?.tokenizer && folderFailed) {
    // The tokenizer of a folder whose model was refused stays out too: the loaded model keeps its own.
    results.push(errorResult(hf.tokenizer.name, new WorkspaceError(`${hf.tokenizer.name} was not loaded: the model of its folder was refused (above), and the loaded model keeps its own tokenizer.`)));
  } else if (hf?.tokenizer) {
    try {
      const tok = await readHfTokenizerFiles(hf);
      const vocabSize = ws.lm?.checkpoint.config.vocabSize;
      if (vocabSize !== undefined && tok.display.length > vocabSize) {
        throw new WorkspaceError(`${hf.tokenizer.name} has ${count(tok.display.length)} tokens but the model ${ws.lm!.name} has a vocabulary of ${count(vocabSize)}; give the tokenizer.json of the same model folder.`);
      }
      ws.tokenizer = { name: hf.tokenizer.name, tok };
      replaced = true;
      results.push({ name: hf.tokenizer.name, kind: 'tokenizer', message: `tokenizer ${hf.tokenizer.name}: ${count(tok.display.length)} pieces (Hugging Face tokenizer.json)` });
    } catch (e) {
      results.push(errorResult(hf.tokenizer.name, e));
    }
  }
  if (files.tokenizer) {
    const file = files.tokenizer;
    try {
      const bytes = new Uint8Array(await file.blob.arrayBuffer());
      const vocabSize = ws.lm?.checkpoint.config.vocabSize;
      let tok: Llama2cTokenizer;
      try {
        tok = parseLlama2cTokenizer(bytes, file.name, vocabSize);
      } catch (e) {
        // A sound tokenizer of another model: say so with both names.
        let whole: Llama2cTokenizer | undefined;
        try { whole = parseLlama2cTokenizer(bytes, file.name); } catch { /* damaged: the first message says how */ }
        if (whole && vocabSize !== undefined && whole.pieces.length < vocabSize) {
          throw new WorkspaceError(`${file.name} has ${count(whole.pieces.length)} tokens but the model ${ws.lm!.name} has a vocabulary of ${count(vocabSize)}; load the tokenizer the model was trained with (the tokenizer.bin of the same export).`);
        }
        throw e;
      }
      ws.tokenizer = { name: file.name, tok };
      replaced = true;
      results.push({ name: file.name, kind: 'tokenizer', message: `tokenizer ${file.name}: ${count(tok.display.length)} pieces` });
    } catch (e) {
      results.push(errorResult(file.name, e));
    }
  }
  for (const file of files.texts) {
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(await file.blob.arrayBuffer());
      if (!text.trim()) throw new WorkspaceError(`${file.name} is empty; give text with one document per line, or documents separated by a line <|endoftext|>.`);
      ws.texts.set(file.name, { text });
      results.push({ name: file.name, kind: 'text', message: `text ${file.name}: ${count(text.length)} characters` });
    } catch (e) {
      const why = e instanceof TypeError ? new WorkspaceError(`${file.name} is not UTF-8 text; save it as UTF-8.`) : e;
      results.push(errorResult(file.name, why));
    }
  }
  tokenizeTexts(ws, replaced);
  for (const r of results) {
    const corpus = ws.texts.get(r.name)?.corpus;
    if (r.kind === 'text' && corpus) r.message += ` → ${count(corpus.documents.length)} documents, ${count(corpus.tokens)} tokens${corpus.truncated ? ` (${corpus.truncated} cut to ${count(corpus.limit)} tokens${corpus.limit < ws.lm!.checkpoint.config.seqLen ? `, of the model's ${count(ws.lm!.checkpoint.config.seqLen)}-token context${corpus.limit === ws.imported?.info.cfg.context_size ? ': the imported SAE\'s context_size' : ''}` : ', the model\'s context'})` : ''}`;
  }
  return results;
}

/**
 * Make a checkpoint the workspace's model (the previous model's tensors freed), refusing it when the
 * loaded tokenizer is too small for its vocabulary (`fix` says which tokenizer to give).
 */
function setModel(ws: WorkspaceState, name: string, checkpoint: ModelCheckpoint, fix: string): void {
  const vocabSize = checkpoint.config.vocabSize;
  if (ws.tokenizer && ws.tokenizer.tok.display.length < vocabSize && ws.tokenizer.tok.kind === 'llama2c') {
    throw new WorkspaceError(`${name} has a vocabulary of ${count(vocabSize)} tokens but the loaded tokenizer ${ws.tokenizer.name} has ${count(ws.tokenizer.tok.display.length)}; load ${fix}.`);
  }
  ws.lm?.model?.dispose();
  ws.lm = { name, checkpoint };
}

/**
 * Tokens per document: the model's context, at most MAX_DOCUMENT_TOKENS, and at most the imported
 * SAE's cfg.json context_size (it was trained on sequences of that length: positions past it are
 * not what it saw).
 */
export function contextLimit(ws: WorkspaceState): number {
  const limit = documentLimit(ws.lm?.checkpoint.config.seqLen ?? Infinity);
  const sae = ws.imported?.info.cfg.context_size;
  return typeof sae === 'number' && Number.isInteger(sae) && sae > 1 ? Math.min(limit, sae) : limit;
}

/** Whether documents start with BOS: yes (TransformerLens's default), unless the imported SAE's cfg.json says prepend_bos false. */
export function prependBos(ws: WorkspaceState): boolean {
  return ws.imported?.info.cfg.prepend_bos !== false;
}

/** Tokenise the texts that are not yet (all of them when the model, tokenizer, context limit or BOS changed). */
export function tokenizeTexts(ws: WorkspaceState, all: boolean): void {
  if (!ws.lm || !ws.tokenizer) return;
  const limit = contextLimit(ws);
  const bos = prependBos(ws);
  for (const [name, t] of ws.texts) {
    if (t.corpus && !all && t.corpus.limit === limit && t.corpus.bos === bos) continue;
    t.corpus = tokenizeCorpus(ws.tokenizer.tok, t.text, name, limit, bos);
  }
}
