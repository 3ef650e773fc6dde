// The one place that maps an architecture name to its variant. Adding a variant = its own file
// plus one line here. Each call builds a fresh variant object, so variants that keep state of
// their own (running thresholds, per-run settings) get one per run.
import { ConfigError, type SaeConfig } from '../config';
import { makeBatchTopkVariant } from './batchtopk';
import { makeClassicVariant } from './classic';
import { crosscoderVariant } from './crosscoder';
import { gatedVariant } from './gated';
import { jumpreluVariant } from './jumprelu';
import { makeMatryoshkaVariant } from './matryoshka';
import { makeMlsaeVariant } from './mlsae';
import { randomkVariant } from './randomk';
import { reluVariant } from './relu';
import { makeRouteSaeVariant } from './routesae';
import { makeTopkVariant } from './topk';
import type { Variant } from './types';

type Makers = { [A in SaeConfig['architecture']]?: (c: Extract<SaeConfig, { architecture: A }>) => Variant<Extract<SaeConfig, { architecture: A }>> };

const MAKERS: Makers = {
  classic: (c) => makeClassicVariant(c),
  relu: () => reluVariant,
  topk: (c) => makeTopkVariant(c.aux_k, c.aux_k_coefficient),
  jumprelu: () => jumpreluVariant,
  gated: () => gatedVariant,
  batchtopk: (c) => makeBatchTopkVariant(c),
  randomk: () => randomkVariant,
  matryoshka: (c) => makeMatryoshkaVariant(c),
  mlsae: (c) => makeMlsaeVariant(c.aux_k, c.aux_k_coefficient),
  crosscoder: () => crosscoderVariant,
  routesae: (c) => makeRouteSaeVariant(c.aux_k, c.aux_k_coefficient, c.routing, c.aggregation),
};

export function variantFor(cfg: SaeConfig): Variant<SaeConfig> {
  const make = MAKERS[cfg.architecture] as ((c: SaeConfig) => Variant<SaeConfig>) | undefined;
  if (!make) throw new ConfigError(`architecture "${cfg.architecture}" is not available in this build.`);
  return make(cfg);
}
