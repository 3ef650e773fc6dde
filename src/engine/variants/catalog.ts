// The registry of variants, tf-free: every variant's declaration (./declaration.ts), and the maker
// of its math once registered. The page reads it through src/engine/config.ts (which derives
// ARCHITECTURES, MULTI_LAYER, SPARSITY_KIND and the config checks from it) without loading tfjs;
// the worker and the CLI build a run's variant with variantFor (./registry.ts), which attaches the
// built-in variants' math. A test or plugin registers declaration and math in one call:
// registerVariant(declaration, make).
import { registerAffineArchitecture } from '../../io/saelens';
import { COMMON_DEFAULTS, ConfigError, type Architecture, type CommonConfig } from '../configBase';
import { batchtopkDeclaration } from './batchtopk.decl';
import { classicDeclaration } from './classic.decl';
import { crosscoderDeclaration } from './crosscoder.decl';
import type { ConfigOf, Fields, FieldSpec, MakeVariant, VariantDeclaration } from './declaration';
import { gatedDeclaration } from './gated.decl';
import { jumpreluDeclaration } from './jumprelu.decl';
import { matryoshkaDeclaration } from './matryoshka.decl';
import { mlsaeDeclaration } from './mlsae.decl';
import { randomkDeclaration } from './randomk.decl';
import { reluDeclaration } from './relu.decl';
import { routesaeDeclaration } from './routesae.decl';
import { topkDeclaration } from './topk.decl';

export interface RegisteredVariant {
  declaration: VariantDeclaration;
  /** Builds a run's variant; absent until the math is registered (the page never registers it). */
  make?: MakeVariant;
}

const VARIANTS = new Map<Architecture, RegisteredVariant>();

/** Names of the registered variants, in registration order (kept up to date by registerVariant). */
export const ARCHITECTURES: Architecture[] = [];
/** Variants that read activations of several layers at once ([L, N, d] files). */
export const MULTI_LAYER: Architecture[] = [];
/**
 * How a variant's sparsity is set: `penalty` variants have a coefficient λ that a controller can
 * steer towards a target L0; `k` variants fix the number of active latents directly.
 */
export const SPARSITY_KIND: Record<Architecture, 'penalty' | 'k'> = {};

/** Keys every config may hold besides COMMON_DEFAULTS' and the variants' fields. */
const OTHER_COMMON_KEYS = ['architecture', 'd_sae', 'layer', 'layer_start', 'layer_end', 'guidance'];

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Why a declaration cannot be registered, or null. */
function problem(d: VariantDeclaration): string | null {
  if (!/^[a-z][a-z0-9_]*$/.test(d.architecture)) return `the architecture name must be lower-case letters, digits and _ (starting with a letter)`;
  const common = new Set([...Object.keys(COMMON_DEFAULTS), ...OTHER_COMMON_KEYS]);
  for (const [key, spec] of Object.entries(d.fields)) {
    if (common.has(key)) return `field "${key}" is a common key; declare only the variant's own keys (a different default goes in commonDefaults)`;
    if (spec.default === null && !spec.compute) return `field "${key}" has neither a default nor a compute function`;
    for (const other of VARIANTS.values()) {
      const theirs = other.declaration.fields[key] as FieldSpec | undefined;
      if (theirs && (theirs.type !== spec.type || !sameValue(theirs.default, spec.default))) {
        return `field "${key}" is a ${spec.type} with default ${JSON.stringify(spec.default)}, but ${other.declaration.architecture} declares it as a ${theirs.type} with default ${JSON.stringify(theirs.default)}; a key shared by variants has one type and one default (one row of docs/configuration.md)`;
      }
    }
  }
  const s = d.sparsity;
  if (s.kind === 'k' && d.fields.k?.type !== 'number') return 'a k variant declares a number field "k"';
  if (s.kind === 'penalty' && d.fields[s.lambdaKey]?.type !== 'number') return `its λ key "${s.lambdaKey}" must be one of its number fields`;
  for (const key of [d.live?.bandwidth, d.live?.learnedThreshold]) {
    if (key !== undefined && d.fields[key]?.type !== 'number') return `its live key "${key}" must be one of its number fields`;
  }
  return null;
}

/**
 * Register a variant: its declaration, and (in the worker, the CLI and tests) the maker of its
 * math. Registering the same declaration object again only attaches `make`; another declaration
 * under a registered name is refused.
 */
export function registerVariant<A extends string, F extends Fields>(declaration: VariantDeclaration<A, F>, make?: MakeVariant<ConfigOf<A, F>>): void {
  const d = declaration as unknown as VariantDeclaration;
  const maker = make as unknown as MakeVariant | undefined;
  const existing = VARIANTS.get(d.architecture);
  if (existing) {
    if (existing.declaration !== d) throw new Error(`variant "${d.architecture}" is registered already (by another declaration).`);
    if (maker) existing.make = maker;
    return;
  }
  const why = problem(d);
  if (why) throw new Error(`variant "${d.architecture}" cannot be registered: ${why}.`);
  VARIANTS.set(d.architecture, { declaration: d, make: maker });
  ARCHITECTURES.push(d.architecture);
  if (d.multiLayer) MULTI_LAYER.push(d.architecture);
  SPARSITY_KIND[d.architecture] = d.sparsity.kind;
  if (d.saelens.affineLayout) registerAffineArchitecture(d.saelens.architecture);
}

/** The registered variant of this name, or undefined. */
export function registeredVariant(architecture: string): RegisteredVariant | undefined {
  return VARIANTS.get(architecture);
}

/** The declaration of a registered variant, or undefined. */
export function variantDeclaration(architecture: string): VariantDeclaration | undefined {
  return VARIANTS.get(architecture)?.declaration;
}

/** The declaration of a registered variant; a ConfigError naming the registered ones otherwise. */
export function declarationFor(architecture: string): VariantDeclaration {
  const d = VARIANTS.get(architecture)?.declaration;
  if (!d) throw new ConfigError(`unknown architecture "${architecture}"; use one of ${ARCHITECTURES.join(', ')}.`);
  return d;
}

/** Every registered declaration, in registration order. */
export function variantDeclarations(): VariantDeclaration[] {
  return [...VARIANTS.values()].map((v) => v.declaration);
}

/** Every key a config may hold: the common keys and every registered variant's fields. */
export function knownConfigKeys(): Set<string> {
  const keys = new Set([...OTHER_COMMON_KEYS, ...Object.keys(COMMON_DEFAULTS)]);
  for (const v of VARIANTS.values()) for (const key of Object.keys(v.declaration.fields)) keys.add(key);
  return keys;
}

/** The common config with a variant's own defaults for the common keys it changes. */
export function commonDefaultsOf(architecture: string): typeof COMMON_DEFAULTS {
  return { ...COMMON_DEFAULTS, ...variantDeclaration(architecture)?.commonDefaults };
}

/** A config read as a record of its keys (a variant's fields are not in the common type). */
export const configRecord = (cfg: CommonConfig): Record<string, unknown> => cfg as unknown as Record<string, unknown>;

// The built-in variants, in the order the Model panel lists them. Their math is attached in ./registry.ts.
for (const d of [
  reluDeclaration, topkDeclaration, batchtopkDeclaration, randomkDeclaration, jumpreluDeclaration, gatedDeclaration,
  classicDeclaration, matryoshkaDeclaration, mlsaeDeclaration, crosscoderDeclaration, routesaeDeclaration,
] as unknown as VariantDeclaration[]) registerVariant(d);
