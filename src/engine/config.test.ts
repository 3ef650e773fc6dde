import { describe, expect, it } from 'vitest';
import { checkConfigBeforeData, ConfigError, resolveConfig, type ConfigInput } from './config';

/** Shapes of real files: one layer or several, narrow or wide. */
const SHAPES: [number, number][] = [[8, 1], [8, 3], [64, 1], [64, 12], [512, 2], [4096, 1]];

const resolvesOn = (input: ConfigInput) => SHAPES.filter(([dIn, nLayers]) => {
  try { resolveConfig(input, dIn, nLayers); return true; } catch (e) { if (e instanceof ConfigError) return false; throw e; }
});

describe('checkConfigBeforeData', () => {
  it('refuses, before any data, a config that no file could make valid', () => {
    const refused: [ConfigInput, RegExp][] = [
      [{ architecture: 'topk', lr_warmpu_steps: 10 }, /unknown config key "lr_warmpu_steps"/],
      [{ architecture: 'transformer' }, /unknown architecture "transformer"/],
      [{ architecture: 'topk', lr: 'fast' }, /config key "lr" is "fast"/],
      [{ architecture: 'topk', steps: 0 }, /config key "steps" is 0; it must be a positive integer/],
      [{ architecture: 'topk', d_sae: 16, k: 40 }, /k = 40 is larger than d_sae = 16/],
      [{ architecture: 'relu', d_sae: 16, guidance: [{ latent: 16, labels: { kind: 'piece', piece: 'a' } }] }, /latent.*\[0, 15\]/],
      [{ architecture: 'routesae', layer_start: 2, layer_end: 2 }, /selects fewer than 2 layers/],
      [{ architecture: 'matryoshka', matryoshka_prefixes: [8, 4, 16], k: 2 }, /must ascend strictly/],
      [{ architecture: 'matryoshka', matryoshka_prefixes: [4, 8, 16], k: 20 }, /k = 20 is larger than d_sae = 16/],
      [[1, 2] as unknown as ConfigInput, /must be a JSON object/],
    ];
    for (const [input, message] of refused) {
      expect(() => checkConfigBeforeData(input), JSON.stringify(input)).toThrow(message);
      // Sound: what is refused before the data is refused on every file.
      expect(resolvesOn(input), JSON.stringify(input)).toEqual([]);
    }
  });

  it('lets through a config that some file makes valid, for resolveConfig on the loaded data', () => {
    const allowed: ConfigInput[] = [
      { architecture: 'topk', d_sae: 16, k: 4 },
      // d_sae from expansion_factor × d_in: k, a guidance latent and the prefixes' end depend on d_in.
      { architecture: 'topk', k: 100 },
      { architecture: 'relu', guidance: [{ latent: 300, labels: { kind: 'piece', piece: 'a' } }] },
      { architecture: 'matryoshka', expansion_factor: 2, matryoshka_prefixes: [4, 8, 16], k: 2 },
      // Layers of a multi-layer file.
      { architecture: 'routesae', d_sae: 16, k: 2 },
      { architecture: 'topk', layer: 5 },
      { architecture: 'mlsae', layer_start: 3, layer_end: 9 },
      // Out of every range: resolveConfig on the data gives the message with the data's bounds.
      { architecture: 'topk', layer: -1 },
    ];
    for (const input of allowed) expect(() => checkConfigBeforeData(input), JSON.stringify(input)).not.toThrow();
    for (const input of allowed.slice(0, -1)) expect(resolvesOn(input).length, JSON.stringify(input)).toBeGreaterThan(0);
    expect(() => resolveConfig({ architecture: 'topk', layer: -1 }, 8, 3)).toThrow(/config key "layer" is -1; it must be an integer layer index in \[0, 2\]/);
  });
});
