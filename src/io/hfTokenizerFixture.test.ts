// The tiny GPT-2 fixture's tokenizer (fixtures/hf/tiny-gpt2, written by scripts/make_hf_fixtures.py)
// through src/io/hfTokenizer.ts against the ids the fixture script's own plain-Python byte-level BPE
// gave (tokenizer_reference.json: [{ text, ids }]): the library reading tokenizer.json must agree
// with an encoder written independently of it, decode the ids back to the text, and put the
// <|endoftext|> id first with `bos: true` (GPT-2's tokenizer_config.json names it as bos_token).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHfTokenizer } from './hfTokenizer';

const DIR = join(__dirname, '../../fixtures/hf/tiny-gpt2');
const file = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));
const reference = JSON.parse(readFileSync(join(DIR, 'tokenizer_reference.json'), 'utf8')) as { text: string; ids: number[] }[];
const vocab = (JSON.parse(readFileSync(join(DIR, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
const ENDOFTEXT = '<|endoftext|>';

describe('tiny-gpt2 tokenizer.json against the fixture script\'s own BPE', () => {
  const tok = parseHfTokenizer(file('tokenizer.json'), 'tokenizer.json', {
    tokenizerConfig: file('tokenizer_config.json'),
    specialTokensMap: file('special_tokens_map.json'),
  });
  const eot = vocab[ENDOFTEXT];

  it('holds the five reference texts, one of them with <|endoftext|> inside', () => {
    expect(reference).toHaveLength(5);
    expect(reference.some((r) => r.text.includes(ENDOFTEXT))).toBe(true);
    expect(Number.isInteger(eot)).toBe(true);
  });

  it('reads <|endoftext|> as BOS and EOS, and does not add BOS itself (add_bos_token false)', () => {
    expect(tok.bosId).toBe(eot);
    expect(tok.eosId).toBe(eot);
    expect(tok.addsBos).toBe(false);
    expect(tok.pieces[eot]).toBe(ENDOFTEXT);
  });

  for (const [i, { text, ids }] of reference.entries()) {
    const label = `text ${i} (${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)}, ${ids.length} ids)`;

    it(`${label}: the same ids, and they decode back to the text`, () => {
      expect(Array.from(tok.encode(text))).toEqual(ids);
      expect(tok.decode(ids)).toBe(text);
    });

    it(`${label}: bos: true puts the <|endoftext|> id first, once`, () => {
      const withBos = Array.from(tok.encode(text, { bos: true }));
      expect(withBos).toEqual([eot, ...ids]);
      expect(tok.decode(withBos)).toBe(ENDOFTEXT + text);
    });
  }

  it('matches the special token written in the text as the one <|endoftext|> id', () => {
    const r = reference.find((x) => x.text.includes(ENDOFTEXT))!;
    expect(r.ids.filter((id) => id === eot)).toHaveLength(1);
    expect(Array.from(tok.encode(r.text)).filter((id) => id === eot)).toHaveLength(1);
  });
});
