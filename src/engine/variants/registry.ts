// The one place that maps an architecture name to its variant. Adding a variant = its own file
// plus one line here.
import type { SaeConfig } from '../config';
import { jumpreluVariant } from './jumprelu';
import { reluVariant } from './relu';
import { makeTopkVariant } from './topk';
import type { Variant } from './types';

export function variantFor(cfg: SaeConfig): Variant<SaeConfig> {
  const make: { [A in SaeConfig['architecture']]: (c: Extract<SaeConfig, { architecture: A }>) => Variant<Extract<SaeConfig, { architecture: A }>> } = {
    relu: () => reluVariant,
    topk: (c) => makeTopkVariant(c.aux_k, c.aux_k_coefficient),
    jumprelu: () => jumpreluVariant,
  };
  return (make[cfg.architecture] as (c: SaeConfig) => Variant<SaeConfig>)(cfg);
}
