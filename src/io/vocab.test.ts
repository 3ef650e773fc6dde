import { describe, expect, it } from 'vitest';
import { writeNpy } from './npy';
import { TokensError, VocabError, parseTokens, parseVocab } from './vocab';

const json = (v: unknown): ArrayBuffer => new TextEncoder().encode(JSON.stringify(v)).buffer as ArrayBuffer;
const text = (s: string): ArrayBuffer => new TextEncoder().encode(s).buffer as ArrayBuffer;
const bytes = (u: Uint8Array): ArrayBuffer => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

function expectError(cls: typeof VocabError | typeof TokensError, fn: () => unknown, ...fragments: string[]): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(cls);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

describe('parseVocab', () => {
  it('reads a JSON array of strings as is, showing SentencePiece ▁ as a space', () => {
    expect(parseVocab(json(['<unk>', '<s>', ' the', 'Lily', '']), 'vocab.json')).toEqual(['<unk>', '<s>', ' the', 'Lily', '']);
    expect(parseVocab(json(['\u2581Lily', 'a\u2581\u2581b']), 'vocab.json')).toEqual([' Lily', 'a  b']);
  });

  it('reads an object {piece: id} into the id-indexed array, filling holes with <id N>', () => {
    expect(parseVocab(json({ b: 1, a: 0, d: 3 }), 'v.json')).toEqual(['a', 'b', '<id 2>', 'd']);
  });

  it('reads a tokenizer.json (SentencePiece BPE): model.vocab plus added tokens, ▁ as a space', () => {
    const tok = {
      version: '1.0',
      added_tokens: [{ id: 0, content: '<unk>', special: true }, { id: 5, content: '<pad>', special: true }],
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }] },
      model: { type: 'BPE', vocab: { '<unk>': 0, '<s>': 1, '▁the': 2, '▁Lily': 4 }, merges: [] },
    };
    expect(parseVocab(json(tok), 'tokenizer.json')).toEqual(['<unk>', '<s>', ' the', '<id 3>', ' Lily', '<pad>']);
  });

  it('reads a byte-level (GPT-2 style) tokenizer.json back to text and a Unigram vocab by index', () => {
    const gpt2 = {
      added_tokens: [{ id: 4, content: '<|endoftext|>' }],
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false },
      decoder: { type: 'ByteLevel' },
      // 'Ġ' = space, 'Ċ' = newline, 'Ã©' = the two UTF-8 bytes of 'é'
      model: { type: 'BPE', vocab: { 'Ġthe': 0, 'Ċ': 1, 'caf\u00c3\u00a9': 2, hello: 3 } },
    };
    expect(parseVocab(json(gpt2), 'tokenizer.json')).toEqual([' the', '\n', 'café', 'hello', '<|endoftext|>']);
    const unigram = { model: { type: 'Unigram', vocab: [['<unk>', 0], ['▁a', -1.5], ['b', -2]] } };
    expect(parseVocab(json(unigram), 'tokenizer.json')).toEqual(['<unk>', ' a', 'b']);
  });

  it('rejects malformed JSON, wrong shapes, non-string entries, bad ids and empty vocabs', () => {
    expectError(VocabError, () => parseVocab(text('["a", "b"'), 'vocab.json'), 'vocab.json is not valid JSON', 'JSON array of strings');
    expectError(VocabError, () => parseVocab(new Uint8Array([0x5b, 0xff, 0x5d]).buffer, 'vocab.json'), 'vocab.json is not valid JSON', 'UTF-8');
    expectError(VocabError, () => parseVocab(json(42), 'vocab.json'), 'vocab.json holds a number (42)', 'tokenizer.json');
    expectError(VocabError, () => parseVocab(json(['a', 'b', 7]), 'vocab.json'), 'entry 2 of vocab.json is a number (7), not a string');
    expectError(VocabError, () => parseVocab(json(['a', null]), 'vocab.json'), 'entry 1 of vocab.json is null');
    expectError(VocabError, () => parseVocab(json({ a: 0, b: 'one' }), 'v.json'), 'maps "b" to a string ("one")', 'non-negative integer ids');
    expectError(VocabError, () => parseVocab(json({ a: 0, b: -1 }), 'v.json'), 'maps "b" to a number (-1)');
    expectError(VocabError, () => parseVocab(json({ a: 0, b: 0 }), 'v.json'), 'maps both "a" and "b" to id 0');
    expectError(VocabError, () => parseVocab(json({ a: 1e9 }), 'v.json'), 'implausibly large');
    expectError(VocabError, () => parseVocab(json({ model: { type: 'BPE' } }), 'tokenizer.json'), 'model.vocab is missing');
    expectError(VocabError, () => parseVocab(json({ model: { vocab: [['a', 0], [3, 1]] } }), 'tokenizer.json'), 'model.vocab[1] in tokenizer.json is an array', '["piece", score]');
    expectError(VocabError, () => parseVocab(json([]), 'vocab.json'), 'vocab.json holds no tokens');
    expectError(VocabError, () => parseVocab(json({}), 'vocab.json'), 'vocab.json holds no tokens');
  });
});

describe('parseTokens', () => {
  it('reads int32 [N], int32 [N, 1] and int64 [N]', () => {
    expect(Array.from(parseTokens(bytes(writeNpy(new Int32Array([5, 0, 511]), [3])), 'tokens.npy'))).toEqual([5, 0, 511]);
    expect(Array.from(parseTokens(bytes(writeNpy(new Int32Array([1, 2]), [2, 1])), 'tokens.npy'))).toEqual([1, 2]);
    // int64 built by hand: header per the .npy spec, then little-endian 8-byte ids.
    let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }";
    header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
    const out = new Uint8Array(10 + header.length + 16);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(out.buffer).setUint16(8, header.length, true);
    for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
    new DataView(out.buffer).setBigInt64(10 + header.length, 300n, true);
    new DataView(out.buffer).setBigInt64(10 + header.length + 8, 7n, true);
    expect(Array.from(parseTokens(out.buffer, 'tokens.npy'))).toEqual([300, 7]);
  });

  it('rejects float dtypes, 2-D arrays, negative ids, empty arrays and non-npy bytes with a clear message', () => {
    expectError(TokensError, () => parseTokens(bytes(writeNpy(new Float32Array([1, 2]), [2])), 'tokens.npy'), 'tokens.npy holds float32 values; token ids must be integers (int32 or int64)');
    expectError(TokensError, () => parseTokens(bytes(writeNpy(new Int32Array(6), [2, 3])), 'tokens.npy'), 'tokens.npy has shape [2, 3]; tokens must be 1-D [N]');
    expectError(TokensError, () => parseTokens(bytes(writeNpy(new Int32Array([3, -1]), [2])), 'tokens.npy'), 'token id -1 at index 1');
    expectError(TokensError, () => parseTokens(bytes(writeNpy(new Int32Array(0), [0])), 'tokens.npy'), 'tokens.npy holds no token ids');
    expectError(TokensError, () => parseTokens(text('[1, 2]'), 'tokens.npy'), 'tokens.npy is not a NumPy .npy file');
  });
});
