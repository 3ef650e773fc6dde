// Vocabulary (token id → piece string) and token ids for the feature browser and token rules.
// Pieces are shown the way our own vocab files show them: SentencePiece's ▁ as a space, and
// GPT-2-style byte-level pieces (Ġ, Ċ, …) decoded back to their text.
import { NpyError, parseNpy } from './npy';

export class VocabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VocabError';
  }
}

export class TokensError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokensError';
  }
}

const SHAPES = 'a JSON array of strings (index = token id), a Hugging Face tokenizer.json, or an object {"piece": id}';
/** Ids beyond this are a damaged file, not a vocabulary (the largest LM vocabularies are ~260k). */
const MAX_VOCAB = 1 << 24;

export function parseVocab(buffer: ArrayBuffer, name: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buffer));
  } catch (e) {
    const why = e instanceof SyntaxError ? e.message : 'it is not UTF-8 text';
    throw new VocabError(`${name} is not valid JSON (${why}); the vocab must be ${SHAPES}.`);
  }
  let vocab: string[];
  if (Array.isArray(json)) vocab = fromArray(json, name);
  else if (isRecord(json) && isRecord(json.model)) vocab = fromTokenizerJson(json, name);
  else if (isRecord(json)) vocab = fromPieceToId(json, name, 'the object');
  else throw new VocabError(`${name} holds ${describeJson(json)}; the vocab must be ${SHAPES}.`);
  if (vocab.length === 0) throw new VocabError(`${name} holds no tokens; the vocab must be ${SHAPES}.`);
  return vocab.map(spaceForMetaspace);
}

/** The display pieces of an already parsed Hugging Face tokenizer.json: what parseVocab gives for that file. */
export function tokenizerJsonPieces(json: Record<string, unknown>, name: string): string[] {
  return fromTokenizerJson(json, name).map(spaceForMetaspace);
}

/** Token ids from a .npy of int32 or int64, shape [N] (or [N, 1]). */
export function parseTokens(buffer: ArrayBuffer, name: string): Int32Array {
  let arr;
  try {
    arr = parseNpy(buffer, name);
  } catch (e) {
    if (e instanceof NpyError) throw new TokensError(e.message);
    throw e;
  }
  if (arr.dtype !== 'int32' && arr.dtype !== 'int64') {
    throw new TokensError(`${name} holds ${arr.dtype} values; token ids must be integers (int32 or int64). Save them with np.save("${name}", tokens.astype(np.int32)).`);
  }
  if (arr.shape.length === 0 || arr.shape.length > 2 || (arr.shape.length === 2 && arr.shape[1] !== 1)) {
    throw new TokensError(`${name} has shape [${arr.shape.join(', ')}]; tokens must be 1-D [N], one token id per activation row. Save tokens.reshape(-1) in the same row order as the activations.`);
  }
  const ids = arr.data as Int32Array;
  if (ids.length === 0) throw new TokensError(`${name} holds no token ids.`);
  const bad = ids.findIndex((id) => id < 0);
  if (bad >= 0) throw new TokensError(`${name} holds token id ${ids[bad]} at index ${bad}; token ids must be ≥ 0. Drop padding rows from both the tokens and the activations.`);
  return ids;
}

// ---- shapes -----------------------------------------------------------------------------------

function fromArray(entries: unknown[], name: string): string[] {
  entries.forEach((piece, id) => {
    if (typeof piece !== 'string') throw new VocabError(`entry ${id} of ${name} is ${describeJson(piece)}, not a string; a vocab array must hold one piece string per token id.`);
  });
  return entries as string[];
}

/** {piece: id} → the id-indexed array, holes filled with `<id N>`. */
function fromPieceToId(map: Record<string, unknown>, name: string, where: string): string[] {
  const pieces: string[] = [];
  for (const [piece, id] of Object.entries(map)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new VocabError(`${where} in ${name} maps ${JSON.stringify(piece)} to ${describeJson(id)}; a {"piece": id} vocab needs non-negative integer ids.`);
    }
    if (id >= MAX_VOCAB) throw new VocabError(`${where} in ${name} maps ${JSON.stringify(piece)} to id ${id}, which is implausibly large for a vocabulary; the file is damaged.`);
    if (pieces[id] !== undefined) throw new VocabError(`${where} in ${name} maps both ${JSON.stringify(pieces[id])} and ${JSON.stringify(piece)} to id ${id}; each id must have one piece.`);
    pieces[id] = piece;
  }
  return fillHoles(pieces);
}

function fillHoles(pieces: (string | undefined)[]): string[] {
  return Array.from({ length: pieces.length }, (_, id) => pieces[id] ?? `<id ${id}>`);
}

/**
 * Hugging Face tokenizer.json: `model.vocab` is {piece: id} (BPE, WordPiece) or [[piece, score]]
 * (Unigram, id = index). `added_tokens` fill ids the model lacks (special tokens).
 */
function fromTokenizerJson(json: Record<string, unknown>, name: string): string[] {
  const model = json.model;
  const vocab = isRecord(model) ? model.vocab : undefined;
  let pieces: (string | undefined)[];
  if (Array.isArray(vocab)) {
    pieces = vocab.map((entry, id) => {
      const piece = Array.isArray(entry) ? entry[0] : undefined;
      if (typeof piece !== 'string') throw new VocabError(`model.vocab[${id}] in ${name} is ${describeJson(entry)}; a Unigram vocab must be a list of ["piece", score] pairs.`);
      return piece;
    });
  } else if (isRecord(vocab)) {
    pieces = fromPieceToId(vocab, name, 'model.vocab');
  } else {
    throw new VocabError(`${name} looks like a tokenizer.json but its model.vocab is ${describeJson(vocab)}; expected an object {"piece": id} or a list of ["piece", score] pairs.`);
  }
  if (isByteLevel(json)) pieces = pieces.map((p) => (p === undefined || p.startsWith('<id ') ? p : decodeByteLevel(p)));
  // Added tokens are stored as plain text (not byte-level encoded), so they go in after decoding.
  if (Array.isArray(json.added_tokens)) {
    for (const t of json.added_tokens) {
      if (isRecord(t) && typeof t.content === 'string' && typeof t.id === 'number' && Number.isInteger(t.id) && t.id >= 0 && t.id < MAX_VOCAB) {
        if (pieces[t.id] === undefined || pieces[t.id] === `<id ${t.id}>`) pieces[t.id] = t.content;
      }
    }
  }
  return fillHoles(pieces);
}

function isByteLevel(json: Record<string, unknown>): boolean {
  const mentions = (v: unknown): boolean => JSON.stringify(v ?? null).includes('"ByteLevel"');
  return mentions(json.decoder) || mentions(json.pre_tokenizer);
}

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 bytes are shifted to
// U+0100.. so every piece is printable. Inverting it recovers the piece's bytes.
const BYTE_OF_CHAR: Map<string, number> = (() => {
  const map = new Map<string, number>();
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map.set(String.fromCharCode(printable ? b : 256 + shifted++), b);
  }
  return map;
})();

function decodeByteLevel(piece: string): string {
  const bytes: number[] = [];
  for (const ch of piece) {
    const b = BYTE_OF_CHAR.get(ch);
    if (b === undefined) return piece; // not a byte-level piece after all: keep it as written
    bytes.push(b);
  }
  // A piece can end inside a multi-byte character; the replacement character marks that.
  return new TextDecoder('utf-8').decode(new Uint8Array(bytes));
}

/** SentencePiece marks a word start with ▁ (U+2581); our vocab files show it as a space. */
function spaceForMetaspace(piece: string): string {
  return piece.includes('\u2581') ? piece.replaceAll('\u2581', ' ') : piece;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON value in words, for messages that say what a file holds instead of what was expected. */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v} (${JSON.stringify(v).slice(0, 40)})`;
}
