import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { encode as gpt2Encode, decode as gpt2Decode } from 'gpt-3-encoder';
import { beforeAll, describe, expect, it } from 'vitest';
import { HfTokenizerError, looksLikeTokenizerJson, parseHfTokenizer, type HfTokenizer } from './hfTokenizer';

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

function expectError(fn: () => unknown, ...fragments: (string | RegExp)[]): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(HfTokenizerError);
  for (const f of fragments) expect((err as Error).message).toMatch(f);
}

// ---- GPT-2's tokenizer.json, built from the encoder.json and vocab.bpe that gpt-3-encoder ships ----

/**
 * The layout of openai-community/gpt2's tokenizer.json on the Hub: byte-level BPE (no prefix
 * space, GPT-2's split regex), a ByteLevel post-processor and decoder, and <|endoftext|> (50256)
 * as the one added special token. Merges are "a b" strings, as in that file.
 */
function gpt2TokenizerJson(): Record<string, unknown> {
  const dir = dirname(createRequire(import.meta.url).resolve('gpt-3-encoder'));
  const vocab = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(dir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((line) => line.length > 0);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab, merges,
    },
  };
}

// ---- the comparison text ------------------------------------------------------------------------

const PARAGRAPHS = [
  // English prose
  `The committee met on a grey Tuesday morning to discuss the proposal. Nobody expected the meeting to last long, but by noon the room was still full and the coffee had run out. "We can't keep postponing this," said the chair, tapping her pen against the table. Her deputy nodded; he'd read the report twice and still wasn't sure what it recommended.`,
  `Sparse autoencoders decompose a model's activations into features that are, one hopes, easier to interpret than the neurons themselves. Each feature fires on a small fraction of tokens: a word, a phrase, a pattern of punctuation. Training one takes an hour or two on a laptop; understanding what it learned takes much longer.`,
  // Contractions, including upper case and odd placements
  `I'm sure you're right, but they've said it's fine and we'll see. She'd have gone if he'd asked. It's John's car, not Mary's. DON'T SHOUT: IT'S LATE AND WE'RE TIRED, I'M TELLING YOU, THEY'LL HEAR. y'all, rock'n'roll, o'clock, 'tis, ma'am, ''quoted'', '''triple''', 's 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D, can't've, wouldn't've, isn't, ain't, it's's.`,
  // Punctuation
  `Wait... what?! No -- really?? (Yes.) [Maybe] {never}; <html> & "quotes" 'single' \`back\` ~tilde~ @at #hash $dollar %percent ^caret *star* _under_ +plus+ =equals= |pipe| \\backslash\\ /slash/ ,,, ... ;;; ::: !!! ??? --- ___ *** ### a,b ,,c ,,, d e.g. i.e. etc. U.S.A. ...and... "nested 'quotes' here" — em dash – en dash … ellipsis «guillemets» „low quotes“ ‘curly’ “double” • bullet · middle ¶ pilcrow § section © ® ™ ° ± × ÷ ¿¡`,
  // Digits and long numbers
  `In 2023 the population was 8,045,311,447 and rising at 0.88% a year; by 2050 it may reach 9.7 billion. Call +1 (555) 010-9999 or 0800 123 4567. Pi is 3.14159265358979323846264338327950288419716939937510; e is 2.71828182845904523536. Version 1.2.3-beta.4+build.567, IPv4 192.168.001.254, hex 0xDEADBEEF 0x7fffffff, 1e-10, -42, +7, 1/3, 3:45pm, 12:00:00.000Z, 2024-02-29T23:59:59+05:30, ₹1,00,000, ¥12345, €9.99, £0.50, 123456789012345678901234567890, 007, 000000, 1st 2nd 3rd 4th 21st ½ ¾ ² ³ ¹ ٣٤٥ ०१२३ 一二三.`,
  // Unicode: accents, combining marks, scripts, emoji
  `Café, naïve, façade, Ångström, Øresund, Straße, mañana, jalapeño, crème brûlée, Dvořák, Łódź, İstanbul, Ελληνικά, Русский язык, українська, עברית, العربية, हिन्दी, বাংলা, ไทย, 한국어 문장입니다, 日本語の文章です。中文句子，包括标点符号！繁體中文也可以。 Combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 Z\u0351\u0352\u0353 and precomposed é ä ñ ộ. Emoji: 😀 🎉 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 🇺🇸 ❤️ ✔︎ ☃ ⚡️ 🧪🔬🧬 🤖. Math: ∀x∈ℝ, ∑ᵢ xᵢ² ≤ ∞, √2 ≈ 1.414, ∫₀¹ f(x) dx, α β γ δ ε. Zero width: a\u200bb c\u200dd, soft\u00adhyphen, BOM\ufeffhere, RTL \u202Eabc\u202C.`,
  // Whitespace: runs of spaces, tabs, newlines, blank lines
  `  leading spaces\n\ttab indented\n\t\tdouble tab\n    four spaces\n\n\nthree newlines above\r\nwindows line\r\n\r\nblank windows line\n   \n  \t \n trailing spaces   \nword  two  spaces   three    four     five\u00a0nbsp\u3000ideographic space\u2003em space\fform feed\vvertical tab\n\n\n\n\n   end with spaces   `,
  // Code
  `function encode(text: string, opts?: { bos?: boolean }): Int32Array {\n  const ids = tok.encode(text, { add_special_tokens: false }).ids;\n  if (!opts?.bos) return Int32Array.from(ids);\n  return new Int32Array([bosId, ...ids]); // prepend\n}\n\ndef fib(n):\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n{"key": [1, 2.5, -3e8, true, null], "nested": {"a": "b\\n"}}\n<div class="x" id='y'>&lt;p&gt;Hello&nbsp;world&lt;/p&gt;</div>\n$ grep -rn "TODO" src/ | wc -l && echo "done" > /dev/null 2>&1\nSELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;\n#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }\n    x+=1;y-=2;z*=3;w/=4;v%=5;u**=6;t<<=7;s>>>=8;r&&=q||p??o;\n`,
];

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'the', 'of', 'and', 'a', 'to', 'in', 'is', 'you', 'that', 'it', 'tokenizer', 'activation', 'feature', 'sparse',
  'The', 'THE', 'Hello', 'WORLD', 'McDonald', 'iPhone', 'JavaScript', 'antidisestablishmentarianism', 'xylophone',
  "I'm", "you're", "we've", "they'll", "she'd", "it's", "don't", "CAN'T", "John's", "'s", "'ll", "'re", "'",
  '0', '7', '42', '1999', '2024', '3.14', '1,000,000', '99.9%', '0x1F', '12345678901234', '-5', '+3', '1e6',
  'café', 'naïve', 'Zürich', 'São', 'Ελλάδα', 'Москва', '東京', '北京市', '서울', 'नमस्ते', 'مرحبا', 'שלום',
  'e\u0301', 'o\u0308\u0304', '😀', '👍🏽', '🇫🇷', '👩‍💻', '✨', '∑', '≥', '→', '½', '²',
  '.', ',', '!', '?', '...', '?!', '--', '—', '(', ')', '[', ']', '{', '}', '"', '<', '>', '/', '\\', '|', '&', '#', '@', '*', '_', '`', '~', '^', '=', '+', ';', ':',
  'foo()', 'x[i]', 'a.b.c', 'snake_case', 'camelCase', 'kebab-case', '__init__', '=>', '!==', '&&', '::', '->', '/* */', '//', '#!', '@@',
];
const SEPARATORS = [' ', ' ', ' ', ' ', '', '  ', '   ', '\t', '\n', '\n\n', ' \n', '\n ', '\r\n', ' \t ', '\n\n\n', '\u00a0', '\u3000', ', ', '. ', '; '];

/** Paragraphs of random words and separators: the combinations hand-written text misses. */
function generatedParagraphs(count: number, seed: number): string[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const out: string[] = [];
  for (let p = 0; p < count; p++) {
    let s = '';
    while (s.length < 400) s += pick(WORDS) + pick(SEPARATORS);
    out.push(s);
  }
  return out;
}

const ALL_PARAGRAPHS = [...PARAGRAPHS, ...generatedParagraphs(48, 20240601)];
const TEXT = ALL_PARAGRAPHS.join('\n\n');

// ---- tests --------------------------------------------------------------------------------------

describe('parseHfTokenizer on GPT-2', () => {
  let gpt2Json: Record<string, unknown>;
  let gpt2Bytes: Uint8Array;
  let tok: HfTokenizer;
  beforeAll(() => {
    gpt2Json = gpt2TokenizerJson();
    gpt2Bytes = bytes(gpt2Json);
    tok = parseHfTokenizer(gpt2Bytes, 'tokenizer.json');
  });

  it('the comparison text is long and varied enough', () => {
    expect(TEXT.length).toBeGreaterThanOrEqual(20_000);
    for (const needle of ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", '\t', '\n\n', '   ', '日本', '😀', 'e\u0301', '12345678901234', 'function']) {
      expect(TEXT).toContain(needle);
    }
    expect(TEXT).not.toContain('<|endoftext|>');
  });

  it("encodes each paragraph exactly as gpt-3-encoder (GPT-2's own BPE) does", () => {
    for (const [i, p] of ALL_PARAGRAPHS.entries()) {
      expect({ paragraph: i, text: p, ids: Array.from(tok.encode(p)) }).toEqual({ paragraph: i, text: p, ids: gpt2Encode(p) });
    }
  });

  it('encodes the whole text exactly as gpt-3-encoder does, and decodes it back', () => {
    const ids = tok.encode(TEXT);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(Array.from(ids)).toEqual(gpt2Encode(TEXT));
    expect(tok.decode(ids)).toBe(TEXT);
    expect(gpt2Decode(Array.from(ids))).toBe(TEXT);
  });

  it('decodes every paragraph back to itself, spaces before punctuation kept as they were', () => {
    for (const p of ALL_PARAGRAPHS) expect(tok.decode(tok.encode(p))).toBe(p);
    expect(tok.decode(tok.encode("a . b , c ? d 's"))).toBe("a . b , c ? d 's");
    expect(tok.decode([])).toBe('');
    expect(tok.decode(tok.encode(''))).toBe('');
  });

  it('shows byte-level pieces as text and special tokens as themselves', () => {
    expect(tok.kind).toBe('huggingface');
    expect(tok.name).toBe('tokenizer.json');
    expect(tok.pieces).toHaveLength(50257);
    const vocab = gpt2Json.model as { vocab: Record<string, number> };
    expect(tok.pieces[vocab.vocab['Ġthe']]).toBe(' the');
    expect(tok.pieces[vocab.vocab['Ċ']]).toBe('\n');
    expect(tok.pieces[vocab.vocab['ĊĊ']]).toBe('\n\n');
    expect(tok.pieces[vocab.vocab['Hello']]).toBe('Hello');
    expect(tok.pieces[50256]).toBe('<|endoftext|>');
    const ids = tok.encode(' the cat');
    expect(ids.length).toBe(2);
    expect(tok.pieces[ids[0]] + tok.pieces[ids[1]]).toBe(' the cat');
  });

  it('matches <|endoftext|> written in the text as the special token (as Hugging Face does; gpt-3-encoder spells it out)', () => {
    expect(Array.from(tok.encode('<|endoftext|>'))).toEqual([50256]);
    expect(Array.from(tok.encode('a<|endoftext|>b'))).toEqual([...gpt2Encode('a'), 50256, ...gpt2Encode('b')]);
    expect(gpt2Encode('<|endoftext|>')).not.toEqual([50256]);
    expect(tok.decode([50256, ...gpt2Encode(' hi')])).toBe('<|endoftext|> hi');
  });

  it('without a tokenizer_config.json: no BOS, EOS is <|endoftext|>, and bos: true puts EOS first once', () => {
    expect(tok.bosId).toBeNull();
    expect(tok.eosId).toBe(50256);
    expect(tok.addsBos).toBe(false);
    expect(Array.from(tok.encode('Hello world', { bos: true }))).toEqual([50256, ...gpt2Encode('Hello world')]);
    expect(Array.from(tok.encode('Hello world', { bos: false }))).toEqual(gpt2Encode('Hello world'));
    expect(Array.from(tok.encode('', { bos: true }))).toEqual([50256]);
  });

  it("takes BOS and EOS from tokenizer_config.json (strings or {content}) or special_tokens_map.json", () => {
    // GPT-2's own tokenizer_config.json says nothing about them.
    const plain = parseHfTokenizer(gpt2Bytes, 'tokenizer.json', { tokenizerConfig: bytes({ model_max_length: 1024 }) });
    expect([plain.bosId, plain.eosId, plain.addsBos]).toEqual([null, 50256, false]);
    // Pythia's shape: the tokens as AddedToken objects.
    const added = { __type: 'AddedToken', content: '<|endoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false };
    const pythia = parseHfTokenizer(gpt2Bytes, 'tokenizer.json', {
      tokenizerConfig: bytes({ add_bos_token: false, add_eos_token: false, bos_token: added, eos_token: added, unk_token: added }),
    });
    expect([pythia.bosId, pythia.eosId, pythia.addsBos]).toEqual([50256, 50256, false]);
    expect(Array.from(pythia.encode('Hi', { bos: true }))).toEqual([50256, ...gpt2Encode('Hi')]);
    const map = parseHfTokenizer(gpt2Bytes, 'tokenizer.json', { specialTokensMap: bytes({ bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' }) });
    expect([map.bosId, map.eosId]).toEqual([50256, 50256]);
    // tokenizer_config.json wins over special_tokens_map.json; an explicit null means "none".
    const both = parseHfTokenizer(gpt2Bytes, 'tokenizer.json', {
      tokenizerConfig: bytes({ bos_token: null, eos_token: 'Hello' }),
      specialTokensMap: bytes({ bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' }),
    });
    expect([both.bosId, both.eosId]).toEqual([null, (gpt2Json.model as { vocab: Record<string, number> }).vocab.Hello]);
  });

  it('rejects a config naming a token the tokenizer lacks, and a malformed config', () => {
    expectError(() => parseHfTokenizer(gpt2Bytes, 'tokenizer.json', { tokenizerConfig: bytes({ bos_token: '<s>' }) }),
      'tokenizer_config.json names bos_token "<s>", which tokenizer.json does not have', 'same model folder');
    expectError(() => parseHfTokenizer(gpt2Bytes, 'tokenizer.json', { tokenizerConfig: bytes('{"bos_token": ') }), 'tokenizer_config.json is not valid JSON');
    expectError(() => parseHfTokenizer(gpt2Bytes, 'tokenizer.json', { tokenizerConfig: bytes({ eos_token: 7 }) }), "tokenizer_config.json's eos_token is a number (7)");
  });

  it('rejects ids outside the vocabulary when decoding', () => {
    expectError(() => tok.decode([0, 50257]), 'token id 50257 at index 1 is not in tokenizer.json', '0…50256');
    expectError(() => tok.decode([-1]), 'token id -1');
  });

  it('sniffs a tokenizer.json from its first bytes', () => {
    expect(looksLikeTokenizerJson(gpt2Bytes.subarray(0, 4096))).toBe(true);
    expect(looksLikeTokenizerJson(bytes('\n  {"model": {"type": "BPE", "vocab": {}}, "version": "1.0"}'))).toBe(true);
    expect(looksLikeTokenizerJson(bytes('{"added_tokens": [], "model": {"type": "Unigram"'))).toBe(true);
    expect(looksLikeTokenizerJson(bytes(readFileSync(join(dirname(createRequire(import.meta.url).resolve('gpt-3-encoder')), 'encoder.json')).subarray(0, 1 << 16)))).toBe(false);
    expect(looksLikeTokenizerJson(bytes({ model: 5, version: 9 }))).toBe(false); // a vocab.json with those pieces
    expect(looksLikeTokenizerJson(bytes({ model_max_length: 1024, tokenizer_class: 'GPT2Tokenizer' }))).toBe(false);
    expect(looksLikeTokenizerJson(bytes('["a", "b"]'))).toBe(false);
    expect(looksLikeTokenizerJson(new Uint8Array([0x0a, 0x05, 0x3c, 0x75, 0x6e, 0x6b, 0x3e, 0x00]))).toBe(false);
    expect(looksLikeTokenizerJson(new Uint8Array())).toBe(false);
  });
});

// ---- a SentencePiece-style (Llama) tokenizer whose post-processor adds BOS ----------------------

function llamaLike(): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true,
      vocab: { '<unk>': 0, '<s>': 1, '</s>': 2, '<0x0A>': 3, '▁': 4, 'a': 5, 'b': 6, 'c': 7, '▁a': 8, '▁b': 9, 'ab': 10, '▁ab': 11 },
      merges: ['▁ a', '▁ b', 'a b', '▁a b'],
    },
  };
}

describe('parseHfTokenizer on a SentencePiece-style tokenizer', () => {
  it('finds BOS from the post-processor, says the tokenizer adds it, and prepends it once', () => {
    const tok = parseHfTokenizer(bytes(llamaLike()), 'tokenizer.json');
    expect([tok.bosId, tok.eosId, tok.addsBos]).toEqual([1, null, true]);
    expect(Array.from(tok.encode('ab b\nc'))).toEqual([11, 9, 3, 7]);
    expect(Array.from(tok.encode('ab b\nc', { bos: true }))).toEqual([1, 11, 9, 3, 7]);
    expect(tok.decode([1, 11, 9, 3, 7])).toBe('<s> ab b\nc');
    expect(tok.decode([11, 9, 3, 7])).toBe('ab b\nc');
    expect(tok.pieces).toEqual(['<unk>', '<s>', '</s>', '<0x0A>', ' ', 'a', 'b', 'c', ' a', ' b', 'ab', ' ab']);
  });

  it('takes BOS/EOS from tokenizer_config.json, and its add_bos_token', () => {
    const config = { bos_token: { content: '<s>', __type: 'AddedToken' }, eos_token: '</s>', add_bos_token: false };
    const tok = parseHfTokenizer(bytes(llamaLike()), 'tokenizer.json', { tokenizerConfig: bytes(config) });
    expect([tok.bosId, tok.eosId, tok.addsBos]).toEqual([1, 2, false]);
    expect(Array.from(tok.encode('a', { bos: true }))).toEqual([1, 8]);
  });

  it('refuses bos: true when the tokenizer has neither BOS nor EOS', () => {
    const json = llamaLike();
    json.post_processor = null;
    const tok = parseHfTokenizer(bytes(json), 'tok.json');
    expect([tok.bosId, tok.eosId, tok.addsBos]).toEqual([null, null, false]);
    expect(Array.from(tok.encode('a'))).toEqual([8]);
    expectError(() => tok.encode('a', { bos: true }), 'tok.json has no BOS token', 'tokenizer_config.json');
  });
});

describe('parseHfTokenizer errors', () => {
  it('rejects a file that is not JSON, naming it and the fix', () => {
    expectError(() => parseHfTokenizer(bytes('{"model": '), 'tokenizer.json'), 'tokenizer.json is not valid JSON', "model folder's tokenizer.json");
    expectError(() => parseHfTokenizer(new Uint8Array(), 'tokenizer.json'), 'tokenizer.json is empty');
    // A SentencePiece tokenizer.model is a protobuf: binary.
    expectError(() => parseHfTokenizer(new Uint8Array([0x0a, 0x0b, 0x0a, 0x05, 0x3c, 0x75, 0x6e, 0x6b, 0x3e, 0x15, 0x00, 0x00, 0x00, 0x00, 0x18, 0x02]), 'tokenizer.model'),
      'tokenizer.model is a binary file, not JSON', 'SentencePiece tokenizer.model', "model folder's tokenizer.json");
    expectError(() => parseHfTokenizer(bytes('#version: 0.2\nĠ t\nĠ a\n'), 'merges.txt'), 'merges.txt is a BPE merges list', "tokenizer.json");
  });

  it('rejects JSON without a "model", telling a vocab.json and a tokenizer_config.json apart', () => {
    expectError(() => parseHfTokenizer(bytes({ version: '1.0', added_tokens: [] }), 'tokenizer.json'), 'tokenizer.json is not a tokenizer.json: it has no "model"');
    const dir = dirname(createRequire(import.meta.url).resolve('gpt-3-encoder'));
    expectError(() => parseHfTokenizer(readFileSync(join(dir, 'encoder.json')), 'vocab.json'),
      'vocab.json is not a tokenizer.json', 'looks like a vocab.json', 'merges', "give the model folder's tokenizer.json");
    expectError(() => parseHfTokenizer(bytes({ model_max_length: 1024, tokenizer_class: 'GPT2Tokenizer' }), 'tokenizer_config.json'),
      'looks like a tokenizer_config.json');
    expectError(() => parseHfTokenizer(bytes(['<unk>', 'a']), 'vocab.json'), 'vocab.json holds a list of token strings', 'tokenizer.json');
    expectError(() => parseHfTokenizer(bytes({ model: 'gpt2' }), 'tokenizer.json'), `tokenizer.json's "model" is a string ("gpt2")`);
  });

  it('rejects model types and components the library does not implement', () => {
    const wordLevel = { version: '1.0', added_tokens: [], model: { type: 'WordLevel', vocab: { a: 0, '[UNK]': 1 }, unk_token: '[UNK]' } };
    expectError(() => parseHfTokenizer(bytes(wordLevel), 'tokenizer.json'), 'tokenizer.json uses a WordLevel model', '@huggingface/tokenizers', 'BPE, WordPiece and Unigram');
    const scripts = { ...llamaLike(), pre_tokenizer: { type: 'UnicodeScripts' } };
    expectError(() => parseHfTokenizer(bytes(scripts), 'tokenizer.json'), 'cannot load tokenizer.json', 'UnicodeScripts');
    const noMerges = { version: '1.0', model: { type: 'BPE', vocab: { a: 0 } } };
    expectError(() => parseHfTokenizer(bytes(noMerges), 'tokenizer.json'), `tokenizer.json's BPE model has no "merges"`);
  });

  it('reads an old tokenizer.json without model.type or component keys', () => {
    const json = llamaLike();
    const model = { ...(json.model as Record<string, unknown>) };
    delete model.type;
    const old = { added_tokens: json.added_tokens, normalizer: json.normalizer, decoder: json.decoder, model };
    const tok = parseHfTokenizer(bytes(old), 'tokenizer.json');
    expect(Array.from(tok.encode('ab b'))).toEqual([11, 9]);
    expect(tok.addsBos).toBe(false);
  });
});
