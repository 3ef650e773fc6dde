// A Hugging Face tokenizer.json (the one file a model folder on the Hub ships for its "fast"
// tokenizer) as a text → token ids encoder, through @huggingface/tokenizers: a pure TypeScript
// reader of that format (no native code, no network once it has the parsed file), so the same
// code runs in Node and in a browser worker. This module adds what the library leaves to its
// caller: clear errors for the files people give instead, the BOS/EOS ids from
// tokenizer_config.json / special_tokens_map.json, display pieces (shared with src/io/vocab.ts)
// and exact decoding.
import type { TextTokenizer } from './tokenizer';
import { Tokenizer } from '@huggingface/tokenizers';
import { VocabError, describeJson, isRecord, tokenizerJsonPieces } from './vocab';

export class HfTokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HfTokenizerError';
  }
}

export interface HfTokenizer extends TextTokenizer {
  kind: 'huggingface';
  /** The file name it came from. */
  name: string;
  /**
   * Token id → display string: byte-level pieces decoded ("Ġthe" → " the", "Ċ" → "\n"),
   * SentencePiece's ▁ as a space, added and special tokens as their content. Length = the largest
   * id + 1 over the vocabulary and the added tokens; ids nothing maps to show as `<id N>`.
   */
  pieces: string[];
  /** From tokenizer_config.json's / special_tokens_map.json's bos_token, else the token the tokenizer's own post-processor puts first (Llama's `<s>`), else null. */
  bosId: number | null;
  /** From tokenizer_config.json's / special_tokens_map.json's eos_token, else `<|endoftext|>` when the tokenizer has it (GPT-2's default), else null. */
  eosId: number | null;
  /** True when the tokenizer itself adds BOS to a text (Llama's TemplateProcessing; tokenizer_config.json's add_bos_token when it says so). */
  addsBos: boolean;
  /**
   * The text's token ids, with no special tokens added (special tokens written in the text, such
   * as `<|endoftext|>`, are still matched, as Hugging Face's tokenizers do). `bos: true` puts
   * BOS first, exactly once: bosId, or eosId for a tokenizer with no BOS (GPT-2's convention);
   * a tokenizer with neither is an error.
   */
  encode(text: string, opts?: { bos?: boolean }): Int32Array;
  /** The text of the ids, special tokens included, without any clean-up of spaces. */
  decode(ids: ArrayLike<number>): string;
}

const LIBRARY = 'the tokenizer library (@huggingface/tokenizers)';
const GIVE = "give the model folder's tokenizer.json";
/** Model types the library implements (it reads an untyped vocab of other kinds as a word list, not a tokenizer). */
const MODEL_TYPES = new Set(['BPE', 'WordPiece', 'Unigram']);
/** The byte-level BPE end-of-text token: GPT-2's tokenizer class uses it as BOS, EOS and UNK. */
const ENDOFTEXT = '<|endoftext|>';

export function parseHfTokenizer(
  tokenizerJson: Uint8Array,
  name: string,
  extra: { tokenizerConfig?: Uint8Array; specialTokensMap?: Uint8Array } = {},
): HfTokenizer {
  const json = readTokenizerJson(tokenizerJson, name);
  const config = extra.tokenizerConfig ? readObject(extra.tokenizerConfig, 'tokenizer_config.json', name) : undefined;
  const specialMap = extra.specialTokensMap ? readObject(extra.specialTokensMap, 'special_tokens_map.json', name) : undefined;

  let pieces: string[];
  try {
    pieces = tokenizerJsonPieces(json, name);
  } catch (e) {
    if (e instanceof VocabError) throw new HfTokenizerError(e.message);
    throw e;
  }
  if (pieces.length === 0) throw new HfTokenizerError(`${name} holds no tokens: its model.vocab and added_tokens are empty; ${GIVE}.`);

  let tok: Tokenizer;
  try {
    tok = new Tokenizer(forLibrary(json, name), libraryConfig(config));
  } catch (e) {
    throw new HfTokenizerError(`${LIBRARY} cannot load ${name}: ${e instanceof Error ? e.message : String(e)}. This tokenizer uses a part the library does not implement; a tokenizer.json from another model folder, or a newer library version, is needed.`);
  }

  const idOf = (content: string, key: string, file: string): number => {
    const id = tok.token_to_id(content);
    if (id === undefined) throw new HfTokenizerError(`${file} names ${key} ${JSON.stringify(content)}, which ${name} does not have; give the ${file} from the same model folder as ${name}.`);
    return id;
  };
  /** The id a config file names for a special token: undefined when neither file says, null when it says none. */
  const configured = (key: 'bos_token' | 'eos_token'): number | null | undefined => {
    for (const [file, obj] of [['tokenizer_config.json', config], ['special_tokens_map.json', specialMap]] as const) {
      if (!obj || !Object.hasOwn(obj, key)) continue;
      const content = tokenContent(obj[key], key, file);
      return content === null ? null : idOf(content, key, file);
    }
    return undefined;
  };

  const prepended = postProcessorPrefix(tok);
  const bos = configured('bos_token');
  const bosId = bos !== undefined ? bos : prepended;
  const eos = configured('eos_token');
  const endOfText = tok.token_to_id(ENDOFTEXT);
  const eosId = eos !== undefined ? eos : endOfText !== undefined && tok.get_added_tokens_decoder().has(endOfText) ? endOfText : null;
  const addBosSetting = config?.add_bos_token;
  const addsBos = bosId !== null && (typeof addBosSetting === 'boolean' ? addBosSetting : prepended === bosId);

  const encode = (text: string, opts: { bos?: boolean } = {}): Int32Array => {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    const bad = ids.findIndex((id) => !Number.isInteger(id));
    if (bad >= 0) {
      const tokens = tok.tokenize(text, { add_special_tokens: false });
      throw new HfTokenizerError(`${name} has no id for the piece ${JSON.stringify(tokens[bad] ?? '?')} of the text (and no unk_token to stand for it).`);
    }
    if (!opts.bos) return Int32Array.from(ids);
    const start = bosId ?? eosId;
    if (start === null) throw new HfTokenizerError(`${name} has no BOS token to put first, nor an EOS token to use instead: give the model folder's tokenizer_config.json (its bos_token), or encode without BOS.`);
    const out = new Int32Array(ids.length + 1);
    out[0] = start;
    out.set(ids, 1);
    return out;
  };

  const decode = (ids: ArrayLike<number>): string => {
    const list = Array.from(ids, Number);
    const bad = list.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= pieces.length);
    if (bad >= 0) throw new HfTokenizerError(`token id ${list[bad]} at index ${bad} is not in ${name}, whose ids run 0…${pieces.length - 1}; the ids come from another tokenizer.`);
    if (list.length === 0) return ''; // the library refuses an empty list
    return tok.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  };

  return { kind: 'huggingface', name, pieces, display: pieces, bosId, eosId, addsBos, encode, decode };
}

/**
 * Whether the first bytes of a file look like a Hugging Face tokenizer.json: a JSON object with a
 * "model" object beside a "version" string or an "added_tokens" list. Hugging Face's tokenizers
 * write "model" last, after the added tokens (thousands of them in some files), so "version" with
 * "added_tokens" also counts. A vocab.json ({"piece": id}) maps every key, "model" or "version"
 * included, to a number, so it never matches.
 */
export function looksLikeTokenizerJson(head: Uint8Array): boolean {
  const text = new TextDecoder('utf-8').decode(head.subarray(0, 1 << 16)); // drops a BOM; a cut character is harmless
  if (!/^\s*\{/.test(text)) return false;
  const model = /"model"\s*:\s*\{/.test(text);
  const version = /"version"\s*:\s*"/.test(text);
  const added = /"added_tokens"\s*:\s*\[/.test(text);
  return (model && (version || added)) || (version && added);
}

// ---- reading the files --------------------------------------------------------------------------

function readJson(bytes: Uint8Array, file: string, expected: string): unknown {
  if (bytes.length === 0) throw new HfTokenizerError(`${file} is empty; ${expected}.`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = '\0';
  }
  if (text.includes('\0')) {
    throw new HfTokenizerError(`${file} is a binary file, not JSON (a SentencePiece tokenizer.model, for one, cannot be read here); ${expected}.`);
  }
  if (/^\s*#version/.test(text)) throw new HfTokenizerError(`${file} is a BPE merges list (merges.txt), not JSON; ${expected}.`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HfTokenizerError(`${file} is not valid JSON (${e instanceof Error ? e.message : String(e)}); ${expected}.`);
  }
}

function readTokenizerJson(bytes: Uint8Array, name: string): Record<string, unknown> {
  const json = readJson(bytes, name, GIVE);
  if (!isRecord(json)) {
    const what = Array.isArray(json) && json.every((v) => typeof v === 'string') ? 'a list of token strings (a vocab list)' : describeJson(json);
    throw new HfTokenizerError(`${name} holds ${what}, not a tokenizer.json, which is an object with a "model"; ${GIVE}.`);
  }
  if (!isRecord(json.model)) {
    // GPT-2's vocab.json has a piece "model" (id 19849), so a "model" key alone proves nothing.
    const kind = whatItIs(json);
    if (kind || !Object.hasOwn(json, 'model')) throw new HfTokenizerError(`${name} is not a tokenizer.json: it has no "model" object${kind}; ${GIVE}.`);
    throw new HfTokenizerError(`${name}'s "model" is ${describeJson(json.model)}; a tokenizer.json's model is an object with a "type" and a "vocab"; ${GIVE}.`);
  }
  return json;
}

/** A clause naming the kind of JSON file given in place of a tokenizer.json. */
function whatItIs(json: Record<string, unknown>): string {
  const values = Object.values(json);
  if (values.length > 0 && values.slice(0, 1000).every((v) => typeof v === 'number')) {
    return ' — it looks like a vocab.json ({"piece": id}), which lacks the merges and the pre-tokenizer rules needed to encode text';
  }
  if (['tokenizer_class', 'model_max_length', 'added_tokens_decoder', 'chat_template'].some((k) => Object.hasOwn(json, k))) {
    return ' — it looks like a tokenizer_config.json (give that one as the config beside the tokenizer.json)';
  }
  if (['bos_token', 'eos_token', 'unk_token', 'pad_token'].some((k) => Object.hasOwn(json, k))) {
    return ' — it looks like a special_tokens_map.json (give that one beside the tokenizer.json)';
  }
  if (['architectures', 'model_type', 'hidden_size', 'vocab_size'].some((k) => Object.hasOwn(json, k))) return " — it looks like the model's config.json";
  return '';
}

function readObject(bytes: Uint8Array, file: string, tokenizerName: string): Record<string, unknown> {
  const expected = `give the ${file} from the same model folder as ${tokenizerName}, or leave it out`;
  const json = readJson(bytes, file, expected);
  if (!isRecord(json)) throw new HfTokenizerError(`${file} holds ${describeJson(json)}, not an object; ${expected}.`);
  return json;
}

/** bos_token / eos_token: a string, an object {"content": ...} (an AddedToken as transformers saves it) or null. */
function tokenContent(v: unknown, key: string, file: string): string | null {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  throw new HfTokenizerError(`${file}'s ${key} is ${describeJson(v)}; it must be a token string, an object {"content": "…"} or null.`);
}

/**
 * A shallow copy the library accepts: it needs every component key present (null when absent), an
 * added_tokens list and a model type; an older file may lack the type, which is inferred the way
 * the Rust tokenizers crate does (merges → BPE, a list vocab → Unigram).
 */
function forLibrary(json: Record<string, unknown>, name: string): Record<string, unknown> {
  const model = json.model as Record<string, unknown>;
  let type = model.type;
  if (type === undefined) {
    if (Array.isArray(model.vocab)) type = 'Unigram';
    else if (Object.hasOwn(model, 'merges')) type = 'BPE';
    else if (Object.hasOwn(model, 'continuing_subword_prefix') || Object.hasOwn(model, 'max_input_chars_per_word')) type = 'WordPiece';
  }
  if (typeof type !== 'string' || !MODEL_TYPES.has(type)) {
    const what = typeof type === 'string' ? `a ${type} model` : 'a model without a "type"';
    throw new HfTokenizerError(`${name} uses ${what}, which ${LIBRARY} cannot run: it implements BPE, WordPiece and Unigram tokenizers; ${GIVE} of a model with one of those.`);
  }
  if (type === 'BPE' && !Array.isArray(model.merges)) {
    throw new HfTokenizerError(`${name}'s BPE model has ${model.merges === undefined ? 'no' : 'malformed'} "merges"; a BPE tokenizer.json lists its merges as ["a b", …] or [["a", "b"], …]; ${GIVE}.`);
  }
  if (json.added_tokens !== undefined && !Array.isArray(json.added_tokens)) {
    throw new HfTokenizerError(`${name}'s "added_tokens" is ${describeJson(json.added_tokens)}; it must be a list of {"id", "content", …}; ${GIVE}.`);
  }
  return {
    ...json,
    normalizer: json.normalizer ?? null,
    pre_tokenizer: json.pre_tokenizer ?? null,
    post_processor: json.post_processor ?? null,
    decoder: json.decoder ?? null,
    added_tokens: json.added_tokens ?? [],
    model: { ...model, type },
  };
}

/** tokenizer_config.json for the library, which expects its special tokens as strings (transformers may save them as {"content": ...}). */
function libraryConfig(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, v] of Object.entries(out)) {
    if (key.endsWith('_token') && isRecord(v) && typeof v.content === 'string') out[key] = v.content;
  }
  if (Array.isArray(out.additional_special_tokens)) {
    out.additional_special_tokens = out.additional_special_tokens.map((v) => (isRecord(v) && typeof v.content === 'string' ? v.content : v));
  }
  return out;
}

/** The special token the tokenizer's post-processor puts before a text when asked to add special tokens, if any. */
function postProcessorPrefix(tok: Tokenizer): number | null {
  try {
    const plain = tok.encode('a', { add_special_tokens: false }).ids;
    const full = tok.encode('a', { add_special_tokens: true }).ids;
    const first = full[0];
    if (full.length <= plain.length || first === plain[0] || !Number.isInteger(first)) return null;
    return tok.get_added_tokens_decoder().get(first)?.special ? first : null;
  } catch {
    return null;
  }
}
