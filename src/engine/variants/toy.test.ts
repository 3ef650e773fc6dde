// A variant is one declaration and its math, registered in one call: this file declares a toy
// variant (a ReLU SAE on gain-scaled pre-activations, built from ./linear.ts) and registers it,
// and nothing else in the repository knows it. It then shows up in config validation, the Model
// form and the Live panel (rendered as the page renders them), the memory estimate, the command
// line (a real training run on a tiny .npy) and the export (cfg.json, the tensors, run_config.json
// and train_with_saelens.py).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { captureOutput } from '../../cli/testing';
import type { DatasetInfo } from '../../data/types';
import { writeNpy } from '../../io/npy';
import { readSafetensors } from '../../io/safetensors';
import { saelensTrainingScript } from '../../run/saelensScript';
import { checkForm, configFromForm, formDefaults, useStore, type AppState } from '../../store/store';
import { LivePanel } from '../../ui/panels/LivePanel';
import { ModelPanel } from '../../ui/panels/ModelPanel';
import {
  ARCHITECTURES, COMMON_DEFAULTS, ConfigError, SPARSITY_KIND, applyLive, checkConfigBeforeData, configDefaults, initialLive, lambdaKey,
  registerVariant, resolveConfig,
} from '../config';
import { reconstructionLoss } from '../losses';
import { estimateTrainingMemory, parameterCount } from '../memoryBudget';
import { choiceField, declareVariant, numberField, type DeclaredConfig, type VariantMath } from './declaration';
import { applyInferenceThreshold, initLinearSae, linearDecode, linearExport, normalizeDecoderRows, preActivations } from './linear';
import { linearShapes } from './shared';

// ---- the toy variant: its declaration and its math ---------------------------------------------

const toyDeclaration = declareVariant({
  architecture: 'toy',
  label: 'Toy (gain ReLU)',
  description: 'A test variant: ReLU of gain-scaled pre-activations with an L1 penalty.',
  sparsity: { kind: 'penalty', lambdaKey: 'toy_l1' },
  fields: {
    toy_l1: numberField({ default: 0.5, min: 0, form: { label: 'Toy coefficient λ', help: 'coefficient of the toy penalty' } }),
    toy_gain: numberField({ default: 1.5, min: 0, minExclusive: true, max: 4, form: { label: 'Toy gain', help: 'scales the pre-activations' } }),
    toy_activation: choiceField(['relu', 'squared'], { default: 'relu', form: { label: 'Toy activation', optionLabels: { relu: 'ReLU', squared: 'ReLU²' } } }),
  },
  saelens: {
    architecture: 'toy_standard',
    config: (c) => ({ toy_gain: c.toy_gain, toy_activation: c.toy_activation }),
    affineLayout: true,
    script: (c) => ({
      cls: 'StandardTrainingSAEConfig', notes: [],
      fields: [['l1_coefficient', c.toy_l1, 'workbench toy_l1'], ['lp_norm', 1.0], ['l1_warm_up_steps', c.lambda_warmup_steps]],
      substitute: `the toy SAE scales its pre-activations by ${c.toy_gain}; the closest SAELens training is the standard ReLU SAE.`,
    }),
  },
  parameterShapes: (c, dIn) => linearShapes(c.d_sae, dIn),
  memory: { act: 10, tape: 7, io: 16 },
});
type ToyConfig = DeclaredConfig<typeof toyDeclaration>;

function makeToy(cfg: ToyConfig): VariantMath<ToyConfig> {
  const activate = (z: tf.Tensor2D) => (cfg.toy_activation === 'squared' ? tf.square(tf.relu(z)) : tf.relu(z)) as tf.Tensor2D;
  const pre = (p: Record<string, tf.Variable>, x: tf.Tensor2D, needsGradient?: boolean) => tf.mul(preActivations(p, x, needsGradient), cfg.toy_gain) as tf.Tensor2D;
  return {
    paramNames: ['W_enc', 'b_enc', 'W_dec', 'b_dec'],
    init: (c, stats, rng) => initLinearSae(stats.dIn, c.d_sae, stats, rng),
    encode: (p, x, live) => tf.tidy(() => applyInferenceThreshold(activate(pre(p, x)), live.threshold)),
    decode: linearDecode,
    loss(p, x, live, ctx) {
      const z = pre(p, x, ctx.inputNeedsGradient);
      const f = activate(z);
      const xHat = linearDecode(p, f);
      const recon = reconstructionLoss(x, xHat);
      const sparsity = tf.mul(tf.mean(tf.sum(f, 1)), live.lambda) as tf.Scalar;
      return { total: tf.add(recon, sparsity), recon, sparsity, aux: tf.scalar(0), f, pre: z, xHat };
    },
    constrain: normalizeDecoderRows,
    exportTensors: linearExport,
  };
}

registerVariant(toyDeclaration, makeToy);

// ---- helpers -------------------------------------------------------------------------------------

const dataset = (over: Partial<DatasetInfo> = {}): DatasetInfo => ({
  name: 'a.npy', rows: 1000, dIn: 8, nLayers: 1, labels: [], dtype: 'float32', trainRows: 900, valRows: 100,
  stats: { mean: 0, std: 1, meanNorm: 8, min: -3, max: 3, perDimMean: [], perDimStd: [], normHistogram: { edges: [], counts: [] }, medianNorm: 8, outliers: { count: 0, thresholdNorm: 12, examples: [] } },
  format: 'npy', bytes: 32000, streamed: false, memoryBudgetBytes: 2 ** 30, synthetic: false, description: '', ...over,
});

/**
 * Render a panel as the page would with these store values. Server rendering reads zustand's
 * initial state (its server snapshot), so the values are written there.
 */
function render(component: () => unknown, state: Partial<AppState>): string {
  Object.assign(useStore.getInitialState(), state);
  useStore.setState(state);
  return renderToStaticMarkup(createElement(component as () => null)).replace(/<!-- -->/g, '');
}

// ---- what it shows up in ---------------------------------------------------------------------------

describe('a variant registered from a test file', () => {
  it('config validation: its fields take their defaults, a bad value is refused naming the key', () => {
    expect(ARCHITECTURES).toContain('toy');
    expect(SPARSITY_KIND.toy).toBe('penalty');
    expect(lambdaKey('toy')).toBe('toy_l1');
    const cfg = resolveConfig({ architecture: 'toy', d_sae: 16 }, 8);
    expect(cfg).toMatchObject({ architecture: 'toy', d_sae: 16, toy_l1: 0.5, toy_gain: 1.5, toy_activation: 'relu', batch_size: COMMON_DEFAULTS.batch_size });
    expect(resolveConfig({ architecture: 'toy', toy_gain: 4, toy_activation: 'squared' }, 8)).toMatchObject({ toy_gain: 4, toy_activation: 'squared' });
    expect(() => resolveConfig({ architecture: 'toy', toy_gain: 0 }, 8)).toThrow(ConfigError);
    expect(() => resolveConfig({ architecture: 'toy', toy_gain: 5 }, 8)).toThrow(/config key "toy_gain" is 5; it must be in \(0, 4\]/);
    expect(() => resolveConfig({ architecture: 'toy', toy_activation: 'cubic' }, 8)).toThrow(/config key "toy_activation" is "cubic"; use one of "relu", "squared"/);
    expect(() => checkConfigBeforeData({ architecture: 'toy', toy_l1: -1 })).toThrow(/config key "toy_l1" is -1; it must be a number ≥ 0/);
    expect(() => resolveConfig({ architecture: 'relu', toy_gaim: 1 }, 8)).toThrow(/unknown config key "toy_gaim"/);
    expect(() => resolveConfig({ architecture: 'toys' }, 8)).toThrow(/unknown architecture "toys"; use one of .*, toy\./);
    expect(configDefaults().variants.toy).toEqual({ toy_l1: 0.5, toy_gain: 1.5, toy_activation: 'relu' });
    // λ is the live coefficient, and folds back into toy_l1.
    const live = initialLive(cfg);
    expect(live.lambda).toBe(0.5);
    expect(applyLive(cfg, { ...live, lambda: 0.25 })).toMatchObject({ toy_l1: 0.25 });
  });

  it('the Model form: its option, description, λ and own fields; the form sends its keys', () => {
    const form = { ...formDefaults(), architecture: 'toy', sparsity_mode: 'manual' as const };
    expect(form).toMatchObject({ toy_l1: 0.5, toy_gain: 1.5, toy_activation: 'relu', batch_size: COMMON_DEFAULTS.batch_size, steps: COMMON_DEFAULTS.steps });
    const html = render(ModelPanel, { form, dataset: dataset() });
    expect(html).toContain('<option value="toy" selected="">Toy (gain ReLU)</option>');
    expect(html).toContain('A test variant: ReLU of gain-scaled pre-activations with an L1 penalty.');
    expect(html).toMatch(/<label for="[^"]+">Toy coefficient λ<\/label><input[^>]*value="0.5"/);
    expect(html).toMatch(/title="scales the pre-activations"><label for="[^"]+">Toy gain<\/label><input[^>]*min="0.000001" max="4"[^>]*value="1.5"/);
    expect(html).toMatch(/Toy activation<\/label><select[^>]*><option value="relu" selected="">ReLU<\/option><option value="squared">ReLU²<\/option>/);
    expect(html).not.toContain('Initial k');
    const cfg = configFromForm({ ...form, toy_gain: 2 });
    expect(cfg).toMatchObject({ architecture: 'toy', toy_l1: 0.5, toy_gain: 2, toy_activation: 'relu' });
    expect(cfg).not.toHaveProperty('k');
    expect(checkForm({ ...form, toy_gain: 2 }, [], dataset())).toMatchObject({ problem: null, config: { toy_gain: 2 } });
    expect(checkForm({ ...form, toy_gain: 9 }, [], dataset()).problem).toMatch(/config key "toy_gain" is 9/);
  });

  it('the Live panel: the λ slider with its help, no k or bandwidth slider', () => {
    const cfg = resolveConfig({ architecture: 'toy', d_sae: 16, sparsity_mode: 'manual' }, 8);
    const html = render(LivePanel, { resolved: cfg, live: initialLive(cfg), runState: 'running', guidance: [] });
    expect(html).toContain('title="coefficient of the toy penalty"');
    expect(html).toContain('Sparsity λ');
    expect(html).not.toContain('Bandwidth');
    expect(html).not.toMatch(/>k</);
  });

  it('the memory estimate: its parameter shapes and factors (those of a ReLU SAE)', () => {
    const toy = resolveConfig({ architecture: 'toy', d_sae: 256, batch_size: 64 }, 32);
    const relu = resolveConfig({ architecture: 'relu', d_sae: 256, batch_size: 64 }, 32);
    expect(parameterCount(toy, 32)).toBe(2 * 32 * 256 + 256 + 32);
    expect(estimateTrainingMemory(toy, 32).bytes).toBe(estimateTrainingMemory(relu, 32).bytes);
  });

  it('the SAELens training script maps it as its declaration says', () => {
    const cfg = resolveConfig({ architecture: 'toy', d_sae: 16, toy_l1: 0.02, toy_gain: 3 }, 8);
    const script = saelensTrainingScript({ config: cfg, dIn: 8, datasetName: 'acts.npy' });
    expect(script).toMatch(/^from sae_lens import .*\bStandardTrainingSAEConfig\b/m);
    expect(script).toContain('l1_coefficient=0.02,  # workbench toy_l1');
    expect(script).toContain('the workbench architecture "toy" is our own');
    expect(script).toContain('scales its pre-activations by 3');
  });

  describe('the command line', () => {
    afterAll(async () => { await tf.setBackend('cpu'); });
    const dir = mkdtempSync(path.join(tmpdir(), 'saewb-toy-'));
    const data = Float32Array.from({ length: 256 * 8 }, (_, i) => Math.sin(i * 0.7) + ((i * 13) % 5) / 5);
    writeFileSync(path.join(dir, 'acts.npy'), writeNpy(data, [256, 8]));
    const cfgFile = (name: string, cfg: object) => { const f = path.join(dir, name); writeFileSync(f, JSON.stringify(cfg)); return f; };
    const read = (f: string) => readFileSync(f, 'utf8');

    it('trains it on a tiny .npy and exports cfg.json, its tensors, run_config.json and the SAELens script', async () => {
      const out = path.join(dir, 'run');
      const config = cfgFile('toy.json', { architecture: 'toy', d_sae: 16, batch_size: 32, toy_gain: 2, toy_activation: 'squared', sparsity_mode: 'manual', toy_l1: 0.01 });
      const c = captureOutput();
      const code = await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', config, '--out', out, '--steps', '20', '--backend', 'cpu']);
      const { err } = c.done();
      expect(code, err).toBe(0);
      expect(err).toContain('training toy');
      const metrics = JSON.parse(read(path.join(out, 'metrics.json')));
      expect(metrics.steps).toBe(20);
      expect(Number.isFinite(metrics.nmse)).toBe(true);
      const cfgJson = JSON.parse(read(path.join(out, 'cfg.json')));
      expect(cfgJson).toMatchObject({ architecture: 'toy_standard', d_in: 8, d_sae: 16, toy_gain: 2, toy_activation: 'squared' });
      expect(cfgJson.metadata.workbench_architecture).toBe('toy');
      const w = readFileSync(path.join(out, 'sae_weights.safetensors'));
      const { tensors } = readSafetensors(w.buffer.slice(w.byteOffset, w.byteOffset + w.length) as ArrayBuffer);
      expect(Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, t.shape]))).toEqual(linearShapes(16, 8));
      expect(JSON.parse(read(path.join(out, 'run_config.json')))).toMatchObject({ architecture: 'toy', toy_gain: 2, toy_activation: 'squared', toy_l1: 0.01 });
      const script = read(path.join(out, 'train_with_saelens.py'));
      expect(script).toContain('sae=StandardTrainingSAEConfig(');
      expect(script).toContain('l1_coefficient=0.01,  # workbench toy_l1');
    }, 120_000);

    it('refuses a bad value of its keys before loading the data, naming the key', async () => {
      const config = cfgFile('bad.json', { architecture: 'toy', toy_gain: 9 });
      const c = captureOutput();
      const code = await main(['train', '--data', path.join(dir, 'missing.npy'), '--config', config, '--out', path.join(dir, 'bad'), '--backend', 'cpu']);
      const { err } = c.done();
      expect(code).not.toBe(0);
      expect(err).toMatch(/config key "toy_gain" is 9; it must be in \(0, 4\]/);
    });
  });
});
