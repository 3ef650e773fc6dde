// llama2.c checkpoints and tokenizers built byte by byte in the test (no ../shared data), and
// encodeLlama2c against hand-worked merges and against run.c's quadratic merge loop.
import { describe, expect, it } from 'vitest';
import { baseTokenizerEntries, randomWeights, serializeV0, serializeV1, tinyConfig, tokenizerBytes, uniform, WEIGHT_NAMES, type RawWeights } from '../engine/lm/testing';
import {
  checkTokenizerFits, decodeLlama2c, encodeLlama2c, hasLlama2cHeader, Llama2cError, looksLikeLlama2cCheckpoint,
  looksLikeLlama2cTokenizer, parseLlama2cCheckpoint, parseLlama2cTokenizer, type LlamaConfig,
} from './llama2c';

const small = (over: Partial<LlamaConfig> = {}) => tinyConfig({ dim: 8, hiddenDim: 12, nLayers: 2, nHeads: 2, nKvHeads: 1, vocabSize: 11, seqLen: 6, ...over });

/** Parameters counted by hand: every array but the RoPE tables, wcls only when separate. */
function parameterCount(c: LlamaConfig): number {
  const { dim: D, hiddenDim: H, nLayers: L, vocabSize: V } = c;
  const KV = (D / c.nHeads) * c.nKvHeads;
  return V * D + 2 * L * D + 2 * L * D * D + 2 * L * KV * D + 3 * L * H * D + D + (c.sharedClassifier ? 0 : V * D);
}

const parseError = (bytes: Uint8Array): string => {
  try {
    parseLlama2cCheckpoint(bytes, 'model.bin');
  } catch (e) {
    expect(e).toBeInstanceOf(Llama2cError);
    return (e as Error).message;
  }
  throw new Error('parsed without error');
};

describe('parseLlama2cCheckpoint', () => {
  const cases = [
    { format: 'llama2c-v0', shared: true, write: serializeV0 },
    { format: 'llama2c-v0', shared: false, write: serializeV0 },
    { format: 'llama2c-v1', shared: true, write: serializeV1 },
    { format: 'llama2c-v1', shared: false, write: serializeV1 },
  ] as const;

  for (const { format, shared, write } of cases) {
    it(`reads back every array of a ${format} file with a ${shared ? 'shared' : 'separate'} classifier`, () => {
      const c = small({ sharedClassifier: shared });
      const w = randomWeights(c, shared ? 11 : 12);
      const bytes = write(c, w);
      const ck = parseLlama2cCheckpoint(bytes, 'model.bin');
      expect(ck.format).toBe(format);
      expect(ck.config).toEqual(c);
      for (const name of WEIGHT_NAMES) expect(Array.from(ck.weights[name]), name).toEqual(Array.from(w[name]));
      expect(Array.from(ck.weights.wcls)).toEqual(Array.from(shared ? w.tokenEmbedding : w.wcls!));
      expect(ck.parameters).toBe(parameterCount(c));
      // 88 + 2·2·8 + 2·2·64 + 2·2·4·8 + 3·2·12·8 + 8 = 1088 (+ 88 separate)
      expect(ck.parameters).toBe(shared ? 1088 : 1176);
      expect(looksLikeLlama2cCheckpoint(bytes.subarray(0, 256), bytes.length)).toBe(true);
      expect(looksLikeLlama2cCheckpoint(bytes.subarray(0, 256), bytes.length - 4)).toBe(false);
      expect(looksLikeLlama2cCheckpoint(bytes.subarray(0, 256), bytes.length + 4)).toBe(false);
      expect(hasLlama2cHeader(bytes.subarray(0, 256))).toBe(true);
    });
  }

  it('reads a file that starts at an odd offset of its buffer (weights copied to an aligned array)', () => {
    const c = small();
    const w = randomWeights(c, 3);
    const bytes = serializeV0(c, w);
    const holder = new Uint8Array(bytes.length + 1);
    holder.set(bytes, 1);
    const ck = parseLlama2cCheckpoint(holder.subarray(1), 'model.bin');
    expect(Array.from(ck.weights.w3)).toEqual(Array.from(w.w3));
  });

  it('tells a checkpoint from random bytes and from an .npy file', () => {
    const u = uniform(5);
    const noise = Uint8Array.from({ length: 4096 }, () => Math.floor(u() * 256));
    expect(looksLikeLlama2cCheckpoint(noise, noise.length)).toBe(false);
    expect(hasLlama2cHeader(noise)).toBe(false);
    const npyHeader = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (100, 8), }";
    const npy = Uint8Array.from(npyHeader.padEnd(128, ' '), (ch) => ch.charCodeAt(0));
    expect(looksLikeLlama2cCheckpoint(npy, 128 + 3200)).toBe(false);
    expect(looksLikeLlama2cCheckpoint(new Uint8Array(20), 20)).toBe(false);
  });

  it('names a truncated file, extra bytes, a bad header, a NaN weight and version 2', () => {
    const c = small({ sharedClassifier: false });
    const w = randomWeights(c, 4);
    const v0 = serializeV0(c, w);
    expect(parseError(v0.subarray(0, v0.length - 4))).toMatch(/truncated/);
    expect(hasLlama2cHeader(v0.subarray(0, v0.length - 4))).toBe(true);
    const longer = new Uint8Array(v0.length + 4);
    longer.set(v0);
    expect(parseError(longer)).toMatch(/extra bytes/);
    expect(parseError(serializeV1(c, w).subarray(0, 300))).toMatch(/truncated/);

    // n_heads 3 does not divide dim 8
    const badHeads = v0.slice();
    new DataView(badHeads.buffer).setInt32(12, 3, true);
    expect(parseError(badHeads)).toMatch(/header \[8, 12, 2, 3, 1, -11, 6\] \(dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len\) is not a llama2\.c model: n_heads 3 does not divide dim 8/);
    // n_kv_heads 0
    const badKv = v0.slice();
    new DataView(badKv.buffer).setInt32(16, 0, true);
    expect(parseError(badKv)).toMatch(/not a llama2\.c model/);

    const nan: RawWeights = { ...w, w2: w.w2.slice() };
    nan.w2[17] = NaN;
    expect(parseError(serializeV0(c, nan))).toMatch(/weight w2 holds a non-finite value \(NaN\) at index 17/);
    const inf: RawWeights = { ...w, wcls: w.wcls!.slice() };
    inf.wcls![3] = -Infinity;
    expect(parseError(serializeV1(c, inf))).toMatch(/weight wcls holds a non-finite value \(-Infinity\) at index 3/);

    const v2 = serializeV1(c, w, 2);
    expect(parseError(v2)).toMatch(/version 2/);
    expect(looksLikeLlama2cCheckpoint(v2, v2.length)).toBe(false);
    expect(parseError(new Uint8Array(10))).toMatch(/shorter than the 28-byte header/);
  });
});

// ---- tokenizer ---------------------------------------------------------------------------------

const utf8 = new TextEncoder();

// Ids after <unk>, BOS, EOS and the byte pieces (3 … 258):
const SP = 259, A = 260, B = 261, C = 262, AB = 263, BC = 264, SA = 265, ABC = 266, N_TILDE = 267;

/** The hand-worked vocabulary with merge scores ab, bc, " a", abc. */
function handTokenizer(scores: { ab: number; bc: number; sa: number; abc: number }) {
  const entries: [string, number][] = [...baseTokenizerEntries(),
    [' ', -1], ['a', -2], ['b', -3], ['c', -4], ['ab', scores.ab], ['bc', scores.bc], [' a', scores.sa], ['abc', scores.abc], ['ñ', -5]];
  return parseLlama2cTokenizer(tokenizerBytes(entries), 'tokenizer.bin');
}

/**
 * run.c's encode(text, bos, eos=0) transcribed: code points gathered byte by byte (≤ 4 bytes) and
 * looked up, else byte fallback (+3); then the whole sequence rescanned per merge, the strictly
 * highest score winning (so the leftmost on ties).
 */
function runcEncode(vocab: Uint8Array[], scores: number[], text: string, bos: boolean): number[] {
  const key = (bytes: ArrayLike<number>) => String.fromCharCode(...Array.from(bytes));
  const ids = new Map<string, number>();
  vocab.forEach((v, i) => { if (!ids.has(key(v))) ids.set(key(v), i); });
  const lookup = (s: string) => ids.get(s) ?? -1;
  const tokens: number[] = [];
  if (bos) tokens.push(1);
  const bytes = utf8.encode(text);
  if (bytes.length > 0) tokens.push(lookup(' '));
  let buf: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[i]);
    if (i + 1 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = lookup(key(buf));
    if (id !== -1) tokens.push(id); else for (const b of buf) tokens.push(b + 3);
    buf = [];
  }
  const start = bos ? 1 : 0;
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = start; i < tokens.length - 1; i++) {
      const id = lookup(key(vocab[tokens[i]]) + key(vocab[tokens[i + 1]]));
      if (id !== -1 && Math.fround(scores[id]) > best) { best = Math.fround(scores[id]); bestId = id; bestIdx = i; }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

describe('parseLlama2cTokenizer', () => {
  it('reads pieces, scores, BOS / EOS and display strings', () => {
    const tok = handTokenizer({ ab: 1.5, bc: 0.5, sa: 0.25, abc: 2 });
    expect(tok.pieces).toHaveLength(268);
    expect(tok.maxTokenLength).toBe(6);
    expect(tok.bos).toBe(1);
    expect(tok.eos).toBe(2);
    expect(tok.display.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(tok.display[3 + 0xc3]).toBe('<0xC3>');
    expect(tok.display.slice(SP, N_TILDE + 1)).toEqual([' ', 'a', 'b', 'c', 'ab', 'bc', ' a', 'abc', 'ñ']);
    expect(tok.pieces[N_TILDE]).toBe('\xc3\xb1'); // bytes, one char each
    expect(Array.from(tok.scores.slice(AB, N_TILDE + 1))).toEqual([1.5, 0.5, 0.25, 2, -5]);
    expect(tok.lookup.get('ab')).toBe(AB);
    expect(looksLikeLlama2cTokenizer(tokenizerBytes(baseTokenizerEntries()))).toBe(true);
  });

  it('reads only the model\'s vocabulary when given its size, and refuses fewer tokens', () => {
    const bytes = tokenizerBytes([...baseTokenizerEntries(), [' ', 0], ['a', 0]]);
    expect(parseLlama2cTokenizer(bytes, 't.bin', 260).pieces).toHaveLength(260);
    const tok = parseLlama2cTokenizer(bytes, 't.bin');
    expect(() => checkTokenizerFits(tok, 262, 't.bin')).toThrow(/has 261 tokens but the model's vocabulary has 262/);
    expect(() => checkTokenizerFits(tok, 261, 't.bin')).not.toThrow();
    expect(() => parseLlama2cTokenizer(bytes, 't.bin', 300)).toThrow(/it has 261 tokens but the model's vocabulary has 300/);
  });

  it('names what is wrong with a bad file', () => {
    const bytes = tokenizerBytes([...baseTokenizerEntries(), ['abc', 1]]);
    const bad = (b: Uint8Array, vocab?: number) => {
      try {
        parseLlama2cTokenizer(b, 'tok.bin', vocab);
      } catch (e) {
        expect(e).toBeInstanceOf(Llama2cError);
        expect((e as Error).message).toMatch(/^tok\.bin is not a llama2\.c tokenizer/);
        return (e as Error).message;
      }
      throw new Error('parsed without error');
    };
    expect(bad(new Uint8Array(3))).toMatch(/shorter than its 4-byte header/);
    expect(bad(new Uint8Array(4))).toMatch(/max token length 0 is implausible/);
    expect(bad(bytes.subarray(0, 4))).toMatch(/holds no tokens/);
    // The last piece's bytes cut short: 'abc' declares 3 bytes, 1 is there.
    expect(bad(bytes.subarray(0, bytes.length - 2))).toMatch(/token 259 declares 3 bytes at byte/);
    // Three stray bytes after the last entry: too short for another score + length.
    const extra = new Uint8Array(bytes.length + 3);
    extra.set(bytes);
    expect(bad(extra)).toMatch(/token 260 is cut short at byte/);
    expect(looksLikeLlama2cTokenizer(extra)).toBe(false);
    const nanScore = bytes.slice();
    new DataView(nanScore.buffer).setFloat32(4, NaN, true);
    expect(bad(nanScore)).toMatch(/token 0 has score NaN/);
    expect(bad(bytes, 300)).toMatch(/it has 260 tokens but the model's vocabulary has 300/);
  });
});

describe('encodeLlama2c', () => {
  it('merges as worked by hand: ties go to the leftmost pair', () => {
    // " a" and "ab" both score 1: " a" is left of "ab", so " a" wins and "ab" never forms.
    const tok = handTokenizer({ ab: 1, bc: 0.5, sa: 1, abc: 2 });
    expect(Array.from(encodeLlama2c(tok, 'ab'))).toEqual([1, SA, B]);
    // [" ", a, b, c] → " a" (1, leftmost of the ties) → [" a", b, c] → bc → [" a", bc]; " abc" is no piece.
    expect(Array.from(encodeLlama2c(tok, 'abc'))).toEqual([1, SA, BC]);
    // [" ", b, a, b]: "ab" (1) is the only merge: it does not matter that " a" ties, it is not adjacent.
    expect(Array.from(encodeLlama2c(tok, 'bab'))).toEqual([1, SP, B, AB]);
  });

  it('merges as worked by hand: a higher-scoring later pair wins', () => {
    const tok = handTokenizer({ ab: 2, bc: 0.5, sa: 1, abc: 3 });
    // [" ", a, b]: "ab" (2) beats the earlier " a" (1).
    expect(Array.from(encodeLlama2c(tok, 'ab'))).toEqual([1, SP, AB]);
    // [" ", a, b, c] → ab → [" ", ab, c] → abc (3) → [" ", abc].
    expect(Array.from(encodeLlama2c(tok, 'abc'))).toEqual([1, SP, ABC]);
    // [" ", b, c, " ", a] → " a" (1) → bc (0.5) → [" ", bc, " a"].
    expect(Array.from(encodeLlama2c(tok, 'bc a'))).toEqual([1, SP, BC, SA]);
    // [" ", c, a, b, c] → ab (2) → [" ", c, ab, c] → abc (3) → [" ", c, abc].
    expect(Array.from(encodeLlama2c(tok, 'cabc'))).toEqual([1, SP, C, ABC]);
    expect(Array.from(encodeLlama2c(tok, 'ab', { bos: false }))).toEqual([SP, AB]);
    // [" ", b, a]: neither " b" nor "ba" is a piece.
    expect(Array.from(encodeLlama2c(tok, 'ba'))).toEqual([1, SP, B, A]);
  });

  it('falls back to UTF-8 bytes (id = byte + 3) for a character without a piece', () => {
    const tok = handTokenizer({ ab: 2, bc: 0.5, sa: 1, abc: 3 });
    expect(Array.from(encodeLlama2c(tok, 'é'))).toEqual([1, SP, 0xc3 + 3, 0xa9 + 3]);
    expect(Array.from(encodeLlama2c(tok, 'aé'))).toEqual([1, SA, 0xc3 + 3, 0xa9 + 3]);
    expect(Array.from(encodeLlama2c(tok, '€'))).toEqual([1, SP, 0xe2 + 3, 0x82 + 3, 0xac + 3]);
    expect(Array.from(encodeLlama2c(tok, '😀b'))).toEqual([1, SP, 0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3, B]);
    // A two-byte character with its own piece is looked up whole.
    expect(Array.from(encodeLlama2c(tok, 'ñ'))).toEqual([1, SP, N_TILDE]);
    expect(Array.from(encodeLlama2c(tok, 'x'))).toEqual([1, SP, 'x'.charCodeAt(0) + 3]);
  });

  it('gives [BOS] alone for empty text, and nothing without BOS', () => {
    const tok = handTokenizer({ ab: 2, bc: 0.5, sa: 1, abc: 3 });
    expect(Array.from(encodeLlama2c(tok, ''))).toEqual([1]);
    expect(Array.from(encodeLlama2c(tok, '', { bos: false }))).toEqual([]);
    expect(Array.from(encodeLlama2c(tok, ' '))).toEqual([1, SP, SP]);
  });

  it('makes the same merges as run.c\'s quadratic loop on random vocabularies and strings', () => {
    const u = uniform(2024);
    const alphabet = [' ', 'a', 'b', 'c'];
    const textAlphabet = [' ', 'a', 'b', 'c', 'a', 'b', 'é', 'ñ', '€'];
    let compared = 0, merges = 0;
    for (let v = 0; v < 6; v++) {
      // Pieces of 2 – 4 characters over the alphabet (about 40% of them), scores from a few integers
      // (many ties) or continuous; "é" sometimes a piece, and sometimes a merge of its two bytes.
      const entries: [string, number][] = [...baseTokenizerEntries(), ...alphabet.map((ch): [string, number] => [ch, -10])];
      const seen = new Set(entries.map(([p]) => p));
      const add = (p: string, score: number) => { if (!seen.has(p)) { seen.add(p); entries.push([p, score]); } };
      const score = () => (v % 2 === 0 ? Math.floor(u() * 5) - 2 : u() * 4 - 2);
      for (let len = 2; len <= 4; len++) {
        for (let n = 0; n < alphabet.length ** len; n++) {
          let p = '';
          for (let i = 0, m = n; i < len; i++, m = Math.floor(m / alphabet.length)) p += alphabet[m % alphabet.length];
          if (u() < 0.4) add(p, score());
        }
      }
      if (v % 3 === 1) add('é', score());
      if (v % 3 === 2) { add('<0xC3><0xA9>', score()); add('<0xC3><0xA9>a', score()); add(' <0xE2>', score()); }
      const order = entries.slice(259).map((e) => e);
      for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(u() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
      const all = [...entries.slice(0, 259), ...order];
      const tok = parseLlama2cTokenizer(tokenizerBytes(all), 'random.bin');
      const vocab = all.map(([p]) => utf8.encode(p));
      const scores = all.map(([, s]) => s);
      for (let s = 0; s < 60; s++) {
        const n = Math.floor(u() * 28);
        let text = '';
        for (let i = 0; i < n; i++) text += textAlphabet[Math.floor(u() * textAlphabet.length)];
        const bos = s % 5 !== 0;
        const expected = runcEncode(vocab, scores, text, bos);
        const got = Array.from(encodeLlama2c(tok, text, { bos }));
        if (got.join() !== expected.join()) expect.fail(`vocabulary ${v}, ${JSON.stringify(text)}: ${got.join(' ')} ≠ run.c ${expected.join(' ')}`);
        merges += utf8.encode(text).length + (n > 0 ? 1 : 0) + (bos ? 1 : 0) - expected.length;
        compared += 1;
      }
    }
    expect(compared).toBe(360);
    expect(merges).toBeGreaterThan(1000); // the merges are the point: plenty happened
  });
});

describe('decodeLlama2c', () => {
  it('round-trips ASCII and non-ASCII text, dropping the dummy-prefix space after BOS', () => {
    const tok = handTokenizer({ ab: 2, bc: 0.5, sa: 1, abc: 3 });
    for (const text of ['abc', 'ab', ' a b', 'cab bca', 'é', 'ñaé€ b😀', 'x\ny', 'a  ']) {
      const ids = encodeLlama2c(tok, text);
      expect(decodeLlama2c(tok, ids), text).toBe(text);
      // Without BOS the dummy prefix stays.
      expect(decodeLlama2c(tok, encodeLlama2c(tok, text, { bos: false }))).toBe(` ${text}`);
    }
    expect(decodeLlama2c(tok, [1, SA, 2])).toBe('a');
    expect(decodeLlama2c(tok, [SA, B])).toBe(' ab');
    expect(decodeLlama2c(tok, [1, 0xc3 + 3, 0xb1 + 3])).toBe('ñ');
  });
});
