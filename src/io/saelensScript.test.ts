// The exported SAELens training script: the right SAELens class and values for every architecture,
// only keyword names that SAELens v6 defines, and valid Python (when python3 is present).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES, MULTI_LAYER, resolveConfig } from '../engine/config';
import { saelensTrainingScript } from './saelensScript';

/**
 * Field names read in SAELens's source (jbloomAus/SAELens, v6): sae_lens/config.py
 * (LanguageModelSAERunnerConfig, LoggingConfig) and sae_lens/saes/{sae,standard_sae,topk_sae,
 * batchtopk_sae,jumprelu_sae,gated_sae}.py (SAEConfig base fields and the training configs).
 */
const RUNNER_FIELDS = new Set(['sae', 'model_name', 'hook_name', 'dataset_path', 'streaming', 'context_size', 'training_tokens', 'train_batch_size_tokens', 'lr', 'lr_warm_up_steps', 'lr_decay_steps', 'adam_beta1', 'adam_beta2', 'dead_feature_window', 'seed', 'device', 'dtype', 'logger']);
const SAE_FIELDS: Record<string, Set<string>> = {
  StandardTrainingSAEConfig: new Set(['d_in', 'd_sae', 'apply_b_dec_to_input', 'normalize_activations', 'l1_coefficient', 'l1_warm_up_steps']),
  GatedTrainingSAEConfig: new Set(['d_in', 'd_sae', 'apply_b_dec_to_input', 'normalize_activations', 'l1_coefficient', 'l1_warm_up_steps']),
  TopKTrainingSAEConfig: new Set(['d_in', 'd_sae', 'apply_b_dec_to_input', 'normalize_activations', 'k']),
  BatchTopKTrainingSAEConfig: new Set(['d_in', 'd_sae', 'apply_b_dec_to_input', 'normalize_activations', 'k']),
  JumpReLUTrainingSAEConfig: new Set(['d_in', 'd_sae', 'apply_b_dec_to_input', 'normalize_activations', 'jumprelu_init_threshold', 'jumprelu_bandwidth', 'l0_coefficient', 'l0_warm_up_steps']),
};

const keywords = (script: string, call: string): string[] => {
  const start = script.indexOf(`${call}(`);
  const body = script.slice(start, script.indexOf('\n)', start));
  return [...body.matchAll(/^\s{4}(\w+)=/gm)].map((m) => m[1]);
};

let python = false;
try { execFileSync('python3', ['--version'], { stdio: 'ignore' }); python = true; } catch { console.warn('saelensScript.test.ts: python3 is absent; the py_compile check is skipped.'); }

describe.each(ARCHITECTURES.map((a) => [a]))('train_with_saelens.py for %s', (architecture) => {
  const cfg = resolveConfig({ architecture, d_sae: 96, batch_size: 256, steps: 300, lr: 2e-4, normalize: 'per_token', seed: 9 }, 16, MULTI_LAYER.includes(architecture) ? 4 : 1);
  const script = saelensTrainingScript({ config: cfg, dIn: 16, datasetName: 'acts.npy' });
  const cls = /from sae_lens import (\w+TrainingSAEConfig)/.exec(script)![1];

  it('uses SAELens field names only, with the run\'s values', () => {
    expect(SAE_FIELDS[cls]).toBeDefined();
    for (const k of keywords(script, `sae_cfg = ${cls}`)) expect(SAE_FIELDS[cls].has(k), `${cls}.${k}`).toBe(true);
    for (const k of keywords(script, 'cfg = LanguageModelSAERunnerConfig')) expect(RUNNER_FIELDS.has(k), `LanguageModelSAERunnerConfig.${k}`).toBe(true);
    expect(script).toContain('d_in=16,');
    expect(script).toContain('d_sae=96,');
    expect(script).toContain('training_tokens=76800,');
    expect(script).toContain('lr=0.0002,');
    expect(script).toContain('normalize_activations="layer_norm"');
    expect(script).toContain('seed=9,');
    if ('k' in cfg) expect(script).toContain(`k=${cfg.k},`);
    if (['randomk', 'classic', 'mlsae', 'crosscoder', 'routesae', 'matryoshka'].includes(architecture)) expect(script).toMatch(/# NOTE: .*(not in SAELens|does not have|plain BatchTopK)/);
  });

  it.skipIf(!python)('is valid Python', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'saewb-py-'));
    const file = path.join(dir, 'train_with_saelens.py');
    writeFileSync(file, script);
    execFileSync('python3', ['-m', 'py_compile', file]);
  });
});
