// Text → documents → token ids → residual activations, on a hand-made tokenizer and a tiny random
// model checked against run.c's forward pass (src/engine/lm/testing.ts); no ../shared data.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planBatches } from '../engine/lm/batching';
import { LlamaModel } from '../engine/lm/llama';
import { baseTokenizerEntries, randomWeights, referenceForward, serializeV1, tinyConfig, tokenizerBytes, type ReferenceResult } from '../engine/lm/testing';
import { useCpu } from '../engine/testing';
import { encodeLlama2c, parseLlama2cCheckpoint, parseLlama2cTokenizer } from '../io/llama2c';
import { extractActivations, splitDocuments, tokenizeCorpus, type TokenizedCorpus } from './textCorpus';

describe('splitDocuments', () => {
  it('splits at separator lines (spaces around them, CRLF), keeps inner newlines, drops empty documents', () => {
    const text = '  first story\nline two \n <|endoftext|> \nsecond\r\n<|endoftext|>\r\n   \r\n<|endoftext|>\nthird\n<|endoftext|>\n';
    expect(splitDocuments(text)).toEqual(['first story\nline two', 'second', 'third']);
    expect(splitDocuments('<|endoftext|>\n<|endoftext|>')).toEqual([]);
    expect(splitDocuments('a\r<|endoftext|>\rb')).toEqual(['a', 'b']);
  });

  it('without a separator line, gives one document per non-empty line', () => {
    expect(splitDocuments('one\n\n  two  \r\nthree\r\n\n')).toEqual(['one', 'two', 'three']);
    // A separator inside a line is text, not a separator.
    expect(splitDocuments('x <|endoftext|> y\nz')).toEqual(['x <|endoftext|> y', 'z']);
    expect(splitDocuments('')).toEqual([]);
    expect(splitDocuments(' \n\t\n')).toEqual([]);
  });
});

// <unk>, BOS, EOS, bytes (3 … 258), then " " 259, a 260, b 261, c 262, ab 263, bc 264, " a" 265, abc 266.
const tok = parseLlama2cTokenizer(tokenizerBytes([...baseTokenizerEntries(),
  [' ', -1], ['a', -2], ['b', -3], ['c', -4], ['ab', 2], ['bc', 0.5], [' a', 1], ['abc', 3]]), 'tokenizer.bin');

describe('tokenizeCorpus', () => {
  it('encodes each document as [BOS, …] and cuts those longer than the context', () => {
    const corpus = tokenizeCorpus(tok, 'abc\n<|endoftext|>\ncab cab cab\n<|endoftext|>\na\n', 'c.txt', 6);
    // "cab cab cab" → [" ", c, ab, " ", c, ab, " ", c, ab] (three "ab" merges; nothing else merges)
    expect(corpus.documents.map((d) => Array.from(d))).toEqual([[1, 259, 266], [1, 259, 262, 263, 259, 262], [1, 265]]);
    expect(corpus.truncated).toBe(1);
    expect(corpus.tokens).toBe(3 + 6 + 2);
    expect(corpus.name).toBe('c.txt');
    expect(Array.from(encodeLlama2c(tok, 'cab cab cab'))).toHaveLength(10);
    const roomy = tokenizeCorpus(tok, 'abc\n<|endoftext|>\ncab cab cab\n', 'c.txt', 10);
    expect([roomy.truncated, roomy.tokens]).toEqual([0, 13]);
  });
});

describe('extractActivations', () => {
  const c = tinyConfig({ vocabSize: 267, sharedClassifier: false });
  const w = randomWeights(c, 31);
  let model: LlamaModel;
  const text = ['abc abc', 'cab', 'bca bca bca abc cab', 'a', 'é b', 'ccc aaa bbb', 'abcabcabcabc'].join('\n<|endoftext|>\n');
  const corpus = tokenizeCorpus(tok, text, 'stories.txt', 32);
  const refs: ReferenceResult[] = corpus.documents.map((d) => referenceForward(c, w, d));

  beforeAll(async () => {
    await useCpu();
    model = new LlamaModel(parseLlama2cCheckpoint(serializeV1(c, w), 'tiny.bin'));
  });
  afterAll(() => model.dispose());

  it('runs in several padded batches (the layout must survive batching)', () => {
    expect(corpus.documents).toHaveLength(7);
    expect(planBatches(corpus.documents.map((d) => d.length), 32).length).toBeGreaterThan(1);
  });

  for (const includeBos of [false, true]) {
    it(`one site, ${includeBos ? 'with' : 'without'} BOS: rows, tokens, positions, document ids and residuals`, async () => {
      const ex = await extractActivations(model, tok, corpus, { sites: [2], includeBos });
      const skip = includeBos ? 0 : 1;
      const expected = { tokens: [] as number[], positions: [] as number[], docIds: [] as number[] };
      let worst = 0;
      corpus.documents.forEach((doc, i) => {
        for (let p = skip; p < doc.length; p++) {
          const r = expected.tokens.length;
          expected.tokens.push(doc[p]);
          expected.positions.push(p);
          expected.docIds.push(i);
          for (let j = 0; j < c.dim; j++) worst = Math.max(worst, Math.abs(ex.dataset.data[r * c.dim + j] - refs[i].residuals[2][p][j]));
        }
      });
      expect(ex.dataset.rows).toBe(corpus.tokens - (includeBos ? 0 : corpus.documents.length));
      expect(ex.dataset.rows).toBe(expected.tokens.length);
      expect(ex.dataset.data).toHaveLength(ex.dataset.rows * c.dim);
      expect(Array.from(ex.tokens)).toEqual(expected.tokens);
      expect(Array.from(ex.positions)).toEqual(expected.positions);
      expect(Array.from(ex.docIds)).toEqual(expected.docIds);
      expect(worst).toBeLessThan(1e-4);
      expect(ex.dataset).toMatchObject({ dIn: 16, nLayers: 1, sites: [2], dtype: 'float32', name: 'stories.txt @ blocks.2.hook_resid_pre' });
      expect(ex.vocab).toHaveLength(267);
      expect(ex.vocab.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
      expect(ex.vocab[265]).toBe(' a');
    });
  }

  it('several sites: rows [site, d] layer-major in the order the sites are given', async () => {
    const sites = [3, 0, 1];
    const ex = await extractActivations(model, tok, corpus, { sites });
    const L = sites.length, D = c.dim;
    expect(ex.dataset).toMatchObject({ nLayers: 3, dIn: 16, sites: [3, 0, 1] });
    expect(ex.dataset.name).toBe('stories.txt @ blocks.2.hook_resid_post, blocks.0.hook_resid_pre, blocks.1.hook_resid_pre');
    expect(ex.dataset.data).toHaveLength(ex.dataset.rows * L * D);
    let worst = 0, r = 0;
    corpus.documents.forEach((doc, i) => {
      for (let p = 1; p < doc.length; p++, r++) {
        sites.forEach((s, l) => {
          for (let j = 0; j < D; j++) worst = Math.max(worst, Math.abs(ex.dataset.data[(r * L + l) * D + j] - refs[i].residuals[s][p][j]));
        });
      }
    });
    expect(r).toBe(ex.dataset.rows);
    expect(worst).toBeLessThan(1e-4);
  });

  it('leaks no tensors, and refuses bad sites and too little text', async () => {
    await extractActivations(model, tok, corpus, { sites: [1, 3] });
    const before = tf.memory().numTensors;
    await extractActivations(model, tok, corpus, { sites: [1, 3] });
    expect(tf.memory().numTensors).toBe(before);
    await expect(extractActivations(model, tok, corpus, { sites: [] })).rejects.toThrow(/choose at least one layer/);
    await expect(extractActivations(model, tok, corpus, { sites: [4] })).rejects.toThrow(/layer 4 does not exist: the model's residual sites are 0 … 3/);
    const tiny: TokenizedCorpus = tokenizeCorpus(tok, 'a', 'one.txt', 32);
    await expect(extractActivations(model, tok, tiny, { sites: [1] })).rejects.toThrow(/one\.txt gives 1 activation row/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
