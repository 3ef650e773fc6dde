// The exported train_with_saelens.py: for every architecture, the right SAELens training class with
// the run's values, only keyword names that SAELens v6 defines, placeholders for model / hook /
// dataset, a clear note where the architecture is ours, and valid Python (when python3 is present).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES, MULTI_LAYER, resolveConfig, type Architecture, type ConfigInput, type Normalize, type SaeConfig } from '../engine/config';
import { saelensTrainingScript } from './saelensScript';

/**
 * Keyword names verified in SAELens's source, jbloomAus/SAELens (now decoderesearch/SAELens) at
 * v6.18.0 (commit 91ca16cc):
 * - sae_lens/config.py: `class LanguageModelSAERunnerConfig` and `class LoggingConfig` (dataclasses);
 * - sae_lens/saes/sae.py: `class SAEConfig` (d_in … metadata) and `class TrainingSAEConfig`
 *   (decoder_init_norm), inherited by every training config;
 * - sae_lens/saes/standard_sae.py `StandardTrainingSAEConfig`, topk_sae.py `TopKTrainingSAEConfig`,
 *   batchtopk_sae.py `BatchTopKTrainingSAEConfig(TopKTrainingSAEConfig)`, matryoshka_batchtopk_sae.py
 *   `MatryoshkaBatchTopKTrainingSAEConfig(BatchTopKTrainingSAEConfig)` (since v6.15.0),
 *   jumprelu_sae.py `JumpReLUTrainingSAEConfig`, gated_sae.py `GatedTrainingSAEConfig`.
 */
const RUNNER_FIELDS = [
  'sae', 'model_name', 'model_class_name', 'hook_name', 'hook_eval', 'hook_head_index', 'dataset_path',
  'dataset_trust_remote_code', 'streaming', 'is_dataset_tokenized', 'context_size', 'use_cached_activations',
  'cached_activations_path', 'from_pretrained_path', 'n_batches_in_buffer', 'training_tokens',
  'store_batch_size_prompts', 'seqpos_slice', 'disable_concat_sequences', 'sequence_separator_token', 'device',
  'act_store_device', 'seed', 'dtype', 'prepend_bos', 'autocast', 'autocast_lm', 'compile_llm', 'llm_compilation_mode',
  'compile_sae', 'sae_compilation_mode', 'train_batch_size_tokens', 'adam_beta1', 'adam_beta2', 'lr', 'lr_scheduler_name',
  'lr_warm_up_steps', 'lr_end', 'lr_decay_steps', 'n_restart_cycles', 'dead_feature_window', 'feature_sampling_window',
  'dead_feature_threshold', 'n_eval_batches', 'eval_batch_size_prompts', 'logger', 'n_checkpoints', 'checkpoint_path',
  'save_final_checkpoint', 'output_path', 'resume_from_checkpoint', 'verbose', 'model_kwargs',
  'model_from_pretrained_kwargs', 'sae_lens_version', 'sae_lens_training_version', 'exclude_special_tokens',
];
const LOGGING_FIELDS = [
  'log_to_wandb', 'log_activations_store_to_wandb', 'log_optimizer_state_to_wandb', 'wandb_project', 'wandb_id',
  'run_name', 'wandb_entity', 'wandb_log_frequency', 'eval_every_n_wandb_logs',
];
const SAE_BASE_FIELDS = ['d_in', 'd_sae', 'dtype', 'device', 'apply_b_dec_to_input', 'normalize_activations', 'reshape_activations', 'metadata', 'decoder_init_norm'];
const TOPK_FIELDS = ['k', 'use_sparse_activations', 'aux_loss_coefficient', 'rescale_acts_by_decoder_norm'];
const TRAINING_FIELDS: Record<string, string[]> = {
  StandardTrainingSAEConfig: [...SAE_BASE_FIELDS, 'l1_coefficient', 'lp_norm', 'l1_warm_up_steps'],
  TopKTrainingSAEConfig: [...SAE_BASE_FIELDS, ...TOPK_FIELDS],
  BatchTopKTrainingSAEConfig: [...SAE_BASE_FIELDS, ...TOPK_FIELDS, 'topk_threshold_lr'],
  MatryoshkaBatchTopKTrainingSAEConfig: [...SAE_BASE_FIELDS, ...TOPK_FIELDS, 'topk_threshold_lr', 'matryoshka_widths'],
  JumpReLUTrainingSAEConfig: [...SAE_BASE_FIELDS, 'jumprelu_init_threshold', 'jumprelu_bandwidth', 'jumprelu_sparsity_loss_mode', 'l0_coefficient', 'l0_warm_up_steps', 'pre_act_loss_coefficient', 'jumprelu_tanh_scale'],
  GatedTrainingSAEConfig: [...SAE_BASE_FIELDS, 'l1_coefficient', 'l1_warm_up_steps'],
};
/** SAELens v6 `normalize_activations` values (SAEConfig.__post_init__ rejects any other). */
const NORMALIZE_VALUES: Record<Normalize, string> = { none: 'none', per_token: 'layer_norm', dataset_norm: 'expected_average_only_in' };

/** Which SAELens training class each workbench architecture must map to (ours: the closest). */
const EXPECTED_CLASS: Record<Architecture, string> = {
  relu: 'StandardTrainingSAEConfig', topk: 'TopKTrainingSAEConfig', batchtopk: 'BatchTopKTrainingSAEConfig',
  randomk: 'TopKTrainingSAEConfig', jumprelu: 'JumpReLUTrainingSAEConfig', gated: 'GatedTrainingSAEConfig',
  classic: 'StandardTrainingSAEConfig', matryoshka: 'MatryoshkaBatchTopKTrainingSAEConfig', mlsae: 'TopKTrainingSAEConfig',
  crosscoder: 'StandardTrainingSAEConfig', routesae: 'TopKTrainingSAEConfig',
};
const OURS: Architecture[] = ['randomk', 'classic', 'mlsae', 'crosscoder', 'routesae'];

// ---- a small reader for the generated Python (calls, keywords, top-level constants) ---------------

/** Top-level keyword arguments of the first call `name(` in the script: keyword → source text. */
function callKeywords(script: string, name: string): Map<string, string> {
  const at = script.search(new RegExp(`\\b${name}\\(`));
  if (at < 0) throw new Error(`no call to ${name}`);
  const out = new Map<string, string>();
  let i = at + name.length + 1;
  let depth = 1;
  let arg = '';
  const flush = () => {
    const m = /^\s*(\w+)\s*=(?!=)([\s\S]*)$/.exec(arg);
    if (m) out.set(m[1], m[2].trim());
    arg = '';
  };
  while (i < script.length && depth > 0) {
    const ch = script[i];
    if (ch === '"' || ch === "'") {
      const end = script.indexOf(ch, i + 1);
      arg += script.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    if (ch === '#') { i = script.indexOf('\n', i); continue; }
    if ('([{'.includes(ch)) depth++;
    if (')]}'.includes(ch)) depth--;
    if (depth === 0) break;
    if (ch === ',' && depth === 1) flush(); else arg += ch;
    i++;
  }
  flush();
  return out;
}

/** Top-level `NAME = value` constants (value text without its comment). */
function constants(script: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of script.matchAll(/^([A-Z_][A-Z0-9_]*) = (.*?)(\s+#.*)?$/gm)) out.set(m[1], m[2]);
  return out;
}

/** The numeric / string / list value of a keyword's source text, resolving constants and `A * B`. */
function value(text: string, consts: Map<string, string>): unknown {
  const t = text.trim();
  if (/^[A-Z_][A-Z0-9_]*$/.test(t)) return value(consts.get(t) ?? 'undefined', consts);
  const product = /^([A-Z_][A-Z0-9_]*) \* ([A-Z_][A-Z0-9_]*)$/.exec(t);
  if (product) return (value(product[1], consts) as number) * (value(product[2], consts) as number);
  if (t === 'True' || t === 'False') return t === 'True';
  return JSON.parse(t);
}

const VARIANT_INPUT: Partial<Record<Architecture, ConfigInput>> = {
  relu: { l1_coefficient: 0.7, lambda_warmup_steps: 20 },
  gated: { l1_coefficient: 0.3, lambda_warmup_steps: 15 },
  crosscoder: { l1_coefficient: 0.4 },
  classic: { sparsity_coefficient: 0.25, sparsity_type: 'kl' },
  jumprelu: { l0_coefficient: 0.02, bandwidth: 0.07, init_threshold: 0.3, lambda_warmup_steps: 12 },
  topk: { k: 7, aux_k_coefficient: 0.05 },
  batchtopk: { k: 9, threshold_lr: 0.02 },
  matryoshka: { k: 8, matryoshka_prefixes: [12, 24, 48, 96] },
  randomk: { k: 5 },
  mlsae: { k: 4 },
  routesae: { k: 6 },
};
const NORMS: Normalize[] = ['none', 'per_token', 'dataset_norm'];

function configFor(architecture: Architecture, i: number): SaeConfig {
  const input: ConfigInput = {
    architecture, d_sae: 96, batch_size: 256, steps: 300, lr: 2e-4, lr_warmup_steps: 10, lr_decay_steps: 50,
    adam_beta1: 0.8, adam_beta2: 0.99, seed: 9, dead_tokens_window: 1000, normalize: NORMS[i % 3], sparsity_mode: 'manual',
    ...VARIANT_INPUT[architecture],
  };
  return resolveConfig(input, 16, MULTI_LAYER.includes(architecture) ? 4 : 1);
}

let python = false;
try {
  execFileSync('python3', ['--version'], { stdio: 'ignore' });
  python = true;
} catch {
  console.warn('saelensScript.test.ts: python3 is absent; the py_compile and ast checks are skipped.');
}

describe.each(ARCHITECTURES.map((a, i) => [a, i] as const))('train_with_saelens.py for %s', (architecture, i) => {
  const cfg = configFor(architecture, i);
  const script = saelensTrainingScript({ config: cfg, dIn: 16, datasetName: 'acts.npy' });
  const cls = EXPECTED_CLASS[architecture];
  const consts = constants(script);

  it('constructs the right SAELens training class with the run\'s values', () => {
    expect(script).toMatch(new RegExp(`^from sae_lens import .*\\b${cls}\\b`, 'm'));
    const runner = callKeywords(script, 'LanguageModelSAERunnerConfig');
    expect(runner.get('sae')).toMatch(new RegExp(`^${cls}\\(`));
    const sae = callKeywords(script, cls);
    const v = (m: Map<string, string>, k: string) => { expect(m.has(k), `${k} is passed`).toBe(true); return value(m.get(k)!, consts); };
    expect(v(sae, 'd_in')).toBe(16);
    expect(v(sae, 'd_sae')).toBe(96);
    expect(v(sae, 'normalize_activations')).toBe(NORMALIZE_VALUES[cfg.normalize]);
    expect(v(runner, 'training_tokens')).toBe(300 * 256);
    expect(v(runner, 'train_batch_size_tokens')).toBe(256);
    expect(v(runner, 'lr')).toBe(2e-4);
    expect(v(runner, 'adam_beta1')).toBe(0.8);
    expect(v(runner, 'adam_beta2')).toBe(0.99);
    expect(v(runner, 'lr_warm_up_steps')).toBe(10);
    expect(v(runner, 'lr_decay_steps')).toBe(50);
    expect(v(runner, 'lr_scheduler_name')).toBe('constant');
    expect(v(runner, 'seed')).toBe(9);
    expect(v(runner, 'dead_feature_window')).toBe(Math.ceil(1000 / 256)); // SAELens counts steps, we count tokens
    const c = cfg as unknown as Record<string, unknown>;
    switch (cls) {
      case 'StandardTrainingSAEConfig':
        expect(v(sae, 'l1_coefficient')).toBe(architecture === 'classic' ? 0.25 : c.l1_coefficient);
        expect(v(sae, 'l1_warm_up_steps')).toBe(cfg.lambda_warmup_steps);
        break;
      case 'GatedTrainingSAEConfig':
        expect(v(sae, 'l1_coefficient')).toBe(0.3);
        expect(v(sae, 'l1_warm_up_steps')).toBe(15);
        break;
      case 'JumpReLUTrainingSAEConfig':
        expect(v(sae, 'l0_coefficient')).toBe(0.02);
        expect(v(sae, 'jumprelu_bandwidth')).toBe(0.07);
        expect(v(sae, 'jumprelu_init_threshold')).toBe(0.3);
        expect(v(sae, 'l0_warm_up_steps')).toBe(12);
        break;
      default: // the TopK family
        expect(v(sae, 'k')).toBe(c.k);
        if (c.aux_k_coefficient !== undefined) expect(v(sae, 'aux_loss_coefficient')).toBe(c.aux_k_coefficient);
    }
    if (architecture === 'batchtopk') expect(v(sae, 'topk_threshold_lr')).toBe(0.02);
    if (architecture === 'matryoshka') expect(v(sae, 'matryoshka_widths')).toEqual([12, 24, 48, 96]);
  });

  it('passes only keyword names verified in SAELens v6', () => {
    for (const k of callKeywords(script, 'LanguageModelSAERunnerConfig').keys()) expect(RUNNER_FIELDS, `LanguageModelSAERunnerConfig.${k}`).toContain(k);
    for (const k of callKeywords(script, 'LoggingConfig').keys()) expect(LOGGING_FIELDS, `LoggingConfig.${k}`).toContain(k);
    for (const k of callKeywords(script, cls).keys()) expect(TRAINING_FIELDS[cls], `${cls}.${k}`).toContain(k);
  });

  it('has placeholders at the top, the producing config in the header, and a note where the architecture is ours', () => {
    const head = script.slice(0, script.indexOf('\nimport '));
    expect(head.split('\n').every((l) => l === '' || l.startsWith('#'))).toBe(true);
    expect(head).toContain(`"architecture":"${architecture}"`);
    expect(head).toContain('acts.npy');
    for (const name of ['MODEL_NAME', 'HOOK_NAME', 'DATASET_PATH']) expect(consts.has(name), name).toBe(true);
    const runner = callKeywords(script, 'LanguageModelSAERunnerConfig');
    expect(runner.get('model_name')).toBe('MODEL_NAME');
    expect(runner.get('hook_name')).toBe('HOOK_NAME');
    expect(runner.get('dataset_path')).toBe('DATASET_PATH');
    if (OURS.includes(architecture)) {
      expect(head).toContain(`"${architecture}" is our own and not in SAELens`);
      expect(head).toContain(`closest SAELens architecture instead: ${cls}`);
    } else {
      expect(head).not.toContain('not in SAELens');
    }
  });

  it('uses the model and hook it is given', () => {
    const s = saelensTrainingScript({ config: cfg, dIn: 16, datasetName: 'acts.npy', modelName: 'pythia-70m', hookName: 'blocks.3.hook_resid_pre' });
    const k = constants(s);
    expect(value(k.get('MODEL_NAME')!, k)).toBe('pythia-70m');
    expect(value(k.get('HOOK_NAME')!, k)).toBe('blocks.3.hook_resid_pre');
  });

  it.skipIf(!python)('is valid Python whose constructor keywords (read by Python\'s ast) are the verified ones', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'saewb-py-'));
    const file = path.join(dir, 'train_with_saelens.py');
    writeFileSync(file, script);
    execFileSync('python3', ['-m', 'py_compile', file]);
    const program = [
      'import ast, json, sys',
      'tree = ast.parse(open(sys.argv[1]).read())',
      'calls = {}',
      'for node in ast.walk(tree):',
      '    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.endswith("Config"):',
      '        calls[node.func.id] = [k.arg for k in node.keywords]',
      'print(json.dumps(calls))',
    ].join('\n');
    const calls = JSON.parse(execFileSync('python3', ['-c', program, file], { encoding: 'utf8' })) as Record<string, string[]>;
    expect(Object.keys(calls).sort()).toEqual([cls, 'LanguageModelSAERunnerConfig', 'LoggingConfig'].sort());
    for (const k of calls.LanguageModelSAERunnerConfig) expect(RUNNER_FIELDS).toContain(k);
    for (const k of calls.LoggingConfig) expect(LOGGING_FIELDS).toContain(k);
    for (const k of calls[cls]) expect(TRAINING_FIELDS[cls]).toContain(k);
    expect(new Set(calls[cls])).toEqual(new Set(callKeywords(script, cls).keys()));
  });
});
