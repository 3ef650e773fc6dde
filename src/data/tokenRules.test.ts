import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTokens, parseVocab } from '../io/vocab';
import { TokenRuleError, describeTokenRule, labelsFromTokenRule, type TokenRule } from './tokenRules';

const VOCAB = ['<unk>', '<s>', ' the', 'the', ' Lily', 'Tom', ' a', '.', ' Apple', 'x'];
const TOKENS = new Int32Array([4, 2, 3, 7, 5, 2, 8, 9, 0, 6]);

const labels = (rule: TokenRule, tokens = TOKENS, vocab = VOCAB) => Array.from(labelsFromTokenRule(tokens, vocab, rule));

describe('labelsFromTokenRule', () => {
  it('piece: 1 exactly where the row’s piece equals the string (the leading space matters)', () => {
    expect(labels({ kind: 'piece', piece: ' the' })).toEqual([0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(labels({ kind: 'piece', piece: 'the' })).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(labels({ kind: 'piece', piece: 'absent' })).toEqual(new Array(10).fill(0));
  });

  it('regex: ^ ?[A-Z] marks capitalised pieces with or without the word-start space', () => {
    // rows' pieces: ' Lily', ' the', 'the', '.', 'Tom', ' the', ' Apple', 'x', '<unk>', ' a'
    expect(labels({ kind: 'regex', pattern: '^ ?[A-Z]' })).toEqual([1, 0, 0, 0, 1, 0, 1, 0, 0, 0]);
    expect(labels({ kind: 'regex', pattern: '^ ?[a-z]', flags: 'i' })).toEqual([1, 1, 1, 0, 1, 1, 1, 1, 0, 1]);
  });

  it('ignores g / y flags, which would make RegExp.test depend on the previous piece', () => {
    const rows = new Int32Array([2, 2, 2, 2]); // the same piece four times must give the same answer
    expect(labels({ kind: 'regex', pattern: 'the', flags: 'g' }, rows)).toEqual([1, 1, 1, 1]);
    expect(labels({ kind: 'regex', pattern: ' ', flags: 'gy' }, rows)).toEqual([1, 1, 1, 1]);
  });

  it('throws TokenRuleError for a token id outside the vocab, naming the id and the vocab size', () => {
    const run = (ids: number[]) => () => labelsFromTokenRule(new Int32Array(ids), VOCAB, { kind: 'piece', piece: 'x' });
    expect(run([0, 10])).toThrow(TokenRuleError);
    expect(run([0, 10])).toThrow('row 1 has token id 10, outside the vocab of 10 entries (ids 0..9)');
    expect(run([-3])).toThrow('token id -3');
  });

  it('throws TokenRuleError with the regex engine’s message for an invalid pattern or flag', () => {
    let engineMessage = '';
    try { new RegExp('[A-Z'); } catch (e) { engineMessage = (e as Error).message; }
    expect(() => labels({ kind: 'regex', pattern: '[A-Z' })).toThrow(TokenRuleError);
    expect(() => labels({ kind: 'regex', pattern: '[A-Z' })).toThrow(`the token rule /[A-Z/ is not a valid regular expression: ${engineMessage}`);
    expect(() => labels({ kind: 'regex', pattern: 'a', flags: 'q' })).toThrow(/\/a\/q is not a valid regular expression/);
  });
});

describe('describeTokenRule', () => {
  it('shows the regex or the quoted piece', () => {
    expect(describeTokenRule({ kind: 'regex', pattern: '^ ?[A-Z]' })).toBe('token matches /^ ?[A-Z]/');
    expect(describeTokenRule({ kind: 'regex', pattern: 'the', flags: 'i' })).toBe('token matches /the/i');
    expect(describeTokenRule({ kind: 'piece', piece: ' the' })).toBe('token is " the"');
    expect(describeTokenRule({ kind: 'piece', piece: '\n' })).toBe('token is "\\n"');
  });
});

const SHARED = path.resolve(__dirname, '../../../shared/data/stories260k');
const hasShared = existsSync(path.join(SHARED, 'vocab.json')) && existsSync(path.join(SHARED, 'valid/tokens.npy'));
if (!hasShared) console.warn(`[tokenRules.test] skipping the real-vocab check: ${SHARED} is absent (it exists only beside the project in CI)`);

describe('real tokens (stories260K validation split)', () => {
  it.skipIf(!hasShared)('^ ?[A-Z] marks between 1% and 40% of rows, exactly the capitalised pieces', () => {
    const read = (rel: string) => {
      const b = readFileSync(path.join(SHARED, rel));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
    };
    const vocab = parseVocab(read('vocab.json'), 'vocab.json');
    const tokens = parseTokens(read('valid/tokens.npy'), 'valid/tokens.npy');
    expect(vocab.length).toBe(512);
    const y = labelsFromTokenRule(tokens, vocab, { kind: 'regex', pattern: '^ ?[A-Z]' });
    // Independent check with character codes rather than a regex.
    const isUpper = (c: number) => c >= 65 && c <= 90;
    let positives = 0;
    for (let row = 0; row < tokens.length; row++) {
      const piece = vocab[tokens[row]];
      const start = piece.charCodeAt(0) === 32 ? 1 : 0;
      const expected = piece.length > start && isUpper(piece.charCodeAt(start)) ? 1 : 0;
      if (y[row] !== expected) throw new Error(`row ${row}: piece ${JSON.stringify(piece)} labelled ${y[row]}, expected ${expected}`);
      positives += expected;
    }
    const fraction = positives / tokens.length;
    console.info(`[tokenRules.test] ^ ?[A-Z] on valid/tokens.npy: ${positives} of ${tokens.length} rows (${(100 * fraction).toFixed(2)}%)`);
    expect(fraction).toBeGreaterThan(0.01);
    expect(fraction).toBeLessThan(0.4);
  });
});
