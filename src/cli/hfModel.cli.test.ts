// The CLI with a Hugging Face model folder as --lm (fixtures/hf, written by
// scripts/make_hf_fixtures.py): activations at --hook names inside blocks, train recording the
// hook and model in cfg.json, eval splicing at the hook its cfg.json names (a run's, and the
// SAELens-layout SAE of the fixtures), and the refusals of --hook / --layer / --tokenizer.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNpy } from '../io/npy';
import { main } from './main';
import { useNodeWasmFiles } from './nodeBackend';
import { captureOutput } from './testing';

const FIXTURES = path.resolve(__dirname, '../../fixtures/hf');
const GPT2 = path.join(FIXTURES, 'tiny-gpt2');
const dir = mkdtempSync(path.join(tmpdir(), 'saewb-hf-'));
const TEXT = path.join(dir, 'text.txt');
const lines = [
  'The quick brown fox jumps over the lazy dog near the river bank.',
  'A small model reads the story and guesses the next word each time.',
  'Sparse autoencoders find directions that fire on a few tokens only.',
  'Residual streams carry what each layer writes for the layers after it.',
  'Once upon a time there was a little robot who liked to count the stars.',
  'The robot counted one, two, three, and then it fell asleep on the grass.',
];

const run = async (args: string[]) => {
  const c = captureOutput();
  const code = await main(args);
  return { code, ...c.done() };
};
const npy = (f: string) => { const b = readFileSync(f); return parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer); };

describe('the CLI with a Hugging Face model folder', () => {
  beforeAll(() => {
    useNodeWasmFiles();
    writeFileSync(TEXT, Array.from({ length: 8 }, () => lines).flat().join('\n'));
  });
  afterAll(async () => { await tf.setBackend('cpu'); });

  it('activations --hook records hooks inside blocks, with the tokenizer.json vocabulary', async () => {
    const r = await run(['activations', '--lm', GPT2, '--text', TEXT, '--hook', 'blocks.0.hook_mlp_out,blocks.1.hook_attn_out', '--out', path.join(dir, 'acts')]);
    expect(r.err).toMatch(/gpt2 model tiny-gpt2: [\d,]+ parameters \(F32\)/);
    expect(r.code).toBe(0);
    const acts = npy(path.join(dir, 'acts/activations.npy'));
    expect(acts.shape[0]).toBe(2);
    expect(acts.shape[2]).toBe(32);
    expect(JSON.parse(r.out).layers).toEqual([0.75, 1.25]);
    const vocab = JSON.parse(readFileSync(path.join(dir, 'acts/vocab.json'), 'utf8'));
    expect(vocab[356]).toBe('<|endoftext|>');
  });

  it('train --hook records the hook and the model; eval splices there by itself', async () => {
    writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ architecture: 'topk', d_sae: 64, k: 4, batch_size: 64, steps: 30, split_by: 'document' }));
    const t = await run(['train', '--lm', GPT2, '--text', TEXT, '--hook', 'blocks.1.hook_mlp_out', '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'sae')]);
    expect(t.err).not.toMatch(/error/i);
    expect(t.code).toBe(0);
    const cfg = JSON.parse(readFileSync(path.join(dir, 'sae/cfg.json'), 'utf8'));
    // What SAELens reads back to run the model the same way: the hook, BOS first, the longest document run.
    expect(cfg.metadata).toMatchObject({ hook_name: 'blocks.1.hook_mlp_out', model_name: 'tiny-gpt2', prepend_bos: true, model_from_pretrained_kwargs: { center_writing_weights: false } });
    expect(cfg.metadata.context_size).toBeGreaterThan(10);
    expect(cfg.metadata.context_size).toBeLessThanOrEqual(64);
    const e = await run(['eval', '--sae', path.join(dir, 'sae'), '--lm', GPT2, '--text', TEXT]);
    expect(e.code).toBe(0);
    const report = JSON.parse(e.out);
    expect(report.siteNames).toEqual(['blocks.1.hook_mlp_out']);
    expect(Number.isFinite(report.groups[0].loss_recovered)).toBe(true);
    expect(report.warning).toBeUndefined();
  });

  it('a crosscoder trains on three consecutive resid_pre sites of the model and is spliced at each', async () => {
    writeFileSync(path.join(dir, 'cc.json'), JSON.stringify({ architecture: 'crosscoder', d_sae: 64, batch_size: 64, steps: 20, layer_start: 0, layer_end: 2, split_by: 'document' }));
    const t = await run(['train', '--lm', GPT2, '--text', TEXT, '--layer', '0-2', '--config', path.join(dir, 'cc.json'), '--out', path.join(dir, 'cc')]);
    expect(t.code).toBe(0);
    const cfg = JSON.parse(readFileSync(path.join(dir, 'cc/cfg.json'), 'utf8'));
    expect(cfg.metadata.hook_names).toEqual(['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post']);
    const e = await run(['eval', '--sae', path.join(dir, 'cc'), '--lm', GPT2, '--text', TEXT]);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.out).groups.map((g: { sites: number[] }) => g.sites)).toEqual([[0], [1], [2]]);
  });

  it('eval of the SAELens-layout SAE splices at its cfg.json hook_name', async () => {
    const e = await run(['eval', '--sae', path.join(FIXTURES, 'tiny-gpt2-sae'), '--lm', GPT2, '--text', TEXT]);
    expect(e.code).toBe(0);
    const report = JSON.parse(e.out);
    expect(report.siteNames).toEqual(['blocks.1.hook_resid_pre']);
    expect(Number.isFinite(report.groups[0].loss_recovered)).toBe(true);
    expect(report.warning).toBeUndefined();
  });

  it('refuses a wrong hook name, --layer with --hook, a model file without --tokenizer, and a hook the model lacks', async () => {
    const bad = await run(['activations', '--lm', GPT2, '--text', TEXT, '--hook', 'blocks.1.hook_z', '--out', path.join(dir, 'x1')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--hook blocks\.1\.hook_z is not a hook name; give TransformerLens names such as blocks\.3\.hook_resid_pre/);
    const both = await run(['activations', '--lm', GPT2, '--text', TEXT, '--hook', 'blocks.1.hook_mlp_out', '--layer', '1', '--out', path.join(dir, 'x2')]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/give --layer or --hook, not both/);
    const file = await run(['activations', '--lm', path.join(GPT2, 'model.safetensors'), '--text', TEXT, '--layer', '1', '--out', path.join(dir, 'x3')]);
    expect(file.code).toBe(2);
    expect(file.err).toMatch(/--tokenizer is needed with a llama2\.c model file/);
    const mid = await run(['activations', '--lm', path.join(FIXTURES, 'tiny-pythia'), '--text', TEXT, '--hook', 'blocks.0.hook_resid_mid', '--out', path.join(dir, 'x4')]);
    expect(mid.code).toBe(1);
    expect(mid.err).toMatch(/blocks\.0\.hook_resid_mid does not exist in this model: its attention and MLP read the same residual in parallel/);
  });
});
