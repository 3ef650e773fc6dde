// The built-in declarations against their math: the parameters and exported tensors each variant's
// init and export make are the shapes its declaration states (the memory estimate and the export
// read those), its threshold and cfg.json fields agree, and registerVariant refuses declarations
// that would contradict the one table of defaults.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ARCHITECTURES, MULTI_LAYER, SPARSITY_KIND, configDefaults, initialLive, learnsThreshold, registerVariant, resolveConfig, variantDeclaration, variantDeclarations,
} from '../config';
import { createRng } from '../rng';
import { useCpu } from '../testing';
import { declaredSaeLensConfig, numberField, type VariantDeclaration } from './declaration';
import { reluDeclaration } from './relu.decl';
import { variantFor } from './registry';
import { linearShapes } from './shared';

beforeAll(useCpu);

const shapesOf = (tensors: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.shape]));

describe('the built-in declarations', () => {
  it('ARCHITECTURES, MULTI_LAYER and SPARSITY_KIND are the declarations\' (the Model panel order first)', () => {
    const declared = variantDeclarations();
    expect(ARCHITECTURES.slice(0, 11)).toEqual(['relu', 'topk', 'batchtopk', 'randomk', 'jumprelu', 'gated', 'classic', 'matryoshka', 'mlsae', 'crosscoder', 'routesae']);
    expect(ARCHITECTURES).toEqual(declared.map((d) => d.architecture));
    expect(MULTI_LAYER).toEqual(declared.filter((d) => d.multiLayer).map((d) => d.architecture));
    for (const d of declared) expect(SPARSITY_KIND[d.architecture]).toBe(d.sparsity.kind);
  });

  const dIn = 6;
  const inputs = ARCHITECTURES.flatMap((architecture) => [
    { architecture },
    ...(architecture === 'classic' ? [{ architecture, tied_weights: true }] : []),
  ]);
  it.each(inputs.map((i) => [JSON.stringify(i), i] as const))('%s: init, export, threshold and cfg.json agree with the declaration', (_, input) => {
    const L = MULTI_LAYER.includes(input.architecture) ? 3 : 1;
    const cfg = resolveConfig({ d_sae: 12, k: 3, ...input }, dIn, L);
    const d = variantDeclaration(cfg.architecture)!;
    const variant = variantFor(cfg);
    const width = L * dIn;
    const p = variant.init(cfg, { dIn, nLayers: L, mean: new Float32Array(width), meanNorm: 1 }, createRng(0));
    try {
      expect(shapesOf(p), 'parameterShapes').toEqual(d.parameterShapes(cfg, dIn));
      expect(Object.keys(p).sort()).toEqual([...variant.paramNames].sort());
      const exported = variant.exportTensors(p);
      expect(shapesOf(exported), 'exportShapes').toEqual((d.exportShapes ?? d.parameterShapes)(cfg, dIn));
      for (const t of Object.values(exported)) if (!Object.values(p).includes(t as tf.Variable)) t.dispose();
      expect(Boolean(variant.learnsThreshold)).toBe(learnsThreshold(cfg.architecture));
      const live = initialLive(cfg);
      expect(variant.saelensConfig(cfg, live)).toEqual(declaredSaeLensConfig(d)(cfg, live));
      expect(variant.architecture).toBe(cfg.architecture);
    } finally {
      Object.values(p).forEach((v) => v.dispose());
      variant.dispose?.();
    }
  });

  it('the one table of defaults holds every declared field, and the common keys a variant changes', () => {
    const { variants } = configDefaults();
    expect(Object.keys(variants)).toEqual([...ARCHITECTURES]);
    expect(variants.topk).toEqual({ k: 32, aux_k: null, aux_k_coefficient: 1 / 32 });
    expect(variants.classic).toMatchObject({ hidden_dim: null, sparsity_type: 'l1', early_stopping_patience: 10 });
    expect(resolveConfig({ architecture: 'classic' }, 8).early_stopping_patience).toBe(10);
    expect(resolveConfig({ architecture: 'relu' }, 8).early_stopping_patience).toBe(0);
  });
});

describe('registerVariant', () => {
  const base = { ...reluDeclaration, architecture: 'other' } as VariantDeclaration;
  const other = (over: Partial<VariantDeclaration>) => ({ ...base, ...over }) as VariantDeclaration;

  it('refuses a second declaration under a registered name, and keys that would contradict the table', () => {
    expect(() => registerVariant({ ...reluDeclaration })).toThrow(/"relu" is registered already/);
    expect(() => registerVariant(reluDeclaration)).not.toThrow(); // the same declaration again: only attaches a maker
    expect(() => registerVariant(other({ fields: { l1_coefficient: numberField({ default: 2, min: 0 }) } })))
      .toThrow(/field "l1_coefficient" is a number with default 2, but relu declares it as a number with default 1/);
    expect(() => registerVariant(other({ fields: { steps: numberField({ default: 5 }) }, sparsity: { kind: 'k' } }))).toThrow(/"steps" is a common key/);
    expect(() => registerVariant(other({ fields: {}, sparsity: { kind: 'k' } }))).toThrow(/declares a number field "k"/);
    expect(() => registerVariant(other({ fields: { c: numberField({ default: null }) }, sparsity: { kind: 'penalty', lambdaKey: 'c' } }))).toThrow(/neither a default nor a compute/);
    expect(() => registerVariant(other({ architecture: 'Bad Name' }))).toThrow(/lower-case/);
    expect(ARCHITECTURES).not.toContain('other');
  });

  it('a declaration without math is known to the config but cannot train', () => {
    registerVariant(other({ architecture: 'declared_only', fields: { l1_coefficient: numberField({ default: 1, min: 0 }) }, parameterShapes: (c, d) => linearShapes(c.d_sae, d) }));
    const cfg = resolveConfig({ architecture: 'declared_only' }, 4);
    expect(cfg).toMatchObject({ architecture: 'declared_only', l1_coefficient: 1 });
    expect(() => variantFor(cfg)).toThrow(/"declared_only" is not available in this build/);
  });
});
