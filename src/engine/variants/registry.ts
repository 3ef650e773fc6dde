// The worker's and the CLI's side of the variant registry: it attaches the built-in variants' math
// (tfjs) to their declarations in ./catalog.ts, and builds a run's variant from its config. The
// page never imports this file (it would pull tfjs into the page bundle); it reads declarations
// through src/engine/config.ts. Each call builds a fresh variant object, so variants that keep
// state of their own (running thresholds, per-run settings) get one per run.
import { ConfigError, type SaeConfig } from '../configBase';
import { makeBatchTopkVariant } from './batchtopk';
import { batchtopkDeclaration } from './batchtopk.decl';
import { registeredVariant, registerVariant } from './catalog';
import { makeClassicVariant } from './classic';
import { classicDeclaration } from './classic.decl';
import { crosscoderVariant } from './crosscoder';
import { crosscoderDeclaration } from './crosscoder.decl';
import { declaredSaeLensConfig } from './declaration';
import { gatedVariant } from './gated';
import { gatedDeclaration } from './gated.decl';
import { jumpreluVariant } from './jumprelu';
import { jumpreluDeclaration } from './jumprelu.decl';
import { makeMatryoshkaVariant } from './matryoshka';
import { matryoshkaDeclaration } from './matryoshka.decl';
import { makeMlsaeVariant } from './mlsae';
import { mlsaeDeclaration } from './mlsae.decl';
import { randomkVariant } from './randomk';
import { randomkDeclaration } from './randomk.decl';
import { reluVariant } from './relu';
import { reluDeclaration } from './relu.decl';
import { makeRouteSaeVariant } from './routesae';
import { routesaeDeclaration } from './routesae.decl';
import { makeTopkVariant } from './topk';
import { topkDeclaration } from './topk.decl';
import type { Variant } from './types';

export { registerVariant } from './catalog';

registerVariant(reluDeclaration, () => reluVariant);
registerVariant(topkDeclaration, (c) => makeTopkVariant(c.aux_k, c.aux_k_coefficient));
registerVariant(batchtopkDeclaration, (c) => makeBatchTopkVariant(c));
registerVariant(randomkDeclaration, () => randomkVariant);
registerVariant(jumpreluDeclaration, () => jumpreluVariant);
registerVariant(gatedDeclaration, () => gatedVariant);
registerVariant(classicDeclaration, (c) => makeClassicVariant(c));
registerVariant(matryoshkaDeclaration, (c) => makeMatryoshkaVariant(c));
registerVariant(mlsaeDeclaration, (c) => makeMlsaeVariant(c.aux_k, c.aux_k_coefficient));
registerVariant(crosscoderDeclaration, () => crosscoderVariant);
registerVariant(routesaeDeclaration, (c) => makeRouteSaeVariant(c.aux_k, c.aux_k_coefficient, c.routing, c.aggregation));

/** The variant of a run: its math, with what it leaves to its declaration filled in. */
export function variantFor(cfg: SaeConfig): Variant<SaeConfig> {
  const entry = registeredVariant(cfg.architecture);
  if (!entry?.make) throw new ConfigError(`architecture "${cfg.architecture}" is not available in this build.`);
  const d = entry.declaration;
  const v = entry.make(cfg);
  if (v.architecture === undefined) v.architecture = d.architecture;
  if (v.label === undefined) v.label = d.label;
  if (v.learnsThreshold === undefined && d.live?.learnedThreshold) v.learnsThreshold = true;
  if (v.saelensConfig === undefined) v.saelensConfig = declaredSaeLensConfig(d);
  return v as Variant<SaeConfig>;
}
