// Declaration pieces several variants share (tf-free): the TopK family's k and AuxK fields, the L1
// coefficient, BatchTopK's threshold rate, the linear SAE's tensor layout, and the SAELens-script
// fields and notes they have in common.
import type { CommonConfig } from '../configBase';
import { numberField, type PyValue } from './declaration';

/** k of a config without `k` in manual sparsity mode (or d_sae, if smaller). */
export const MANUAL_K = 32;

/** Active latents per row; in target-L0 mode it follows round(target_l0 · d_sae) unless given. */
export const kField = numberField({
  default: MANUAL_K,
  integer: true,
  min: 1,
  compute: ({ common, dSae }) => (common.sparsity_mode === 'target_l0'
    ? Math.max(1, Math.round(common.target_l0 * dSae))
    : Math.min(MANUAL_K, dSae)),
  validate: (v, { dSae }) => (v > dSae ? `k = ${v} is larger than d_sae = ${dSae}; choose k ≤ d_sae.` : null),
  form: { label: 'Initial k' },
});

/** k and the AuxK settings of the TopK family. */
export const K_FIELDS = {
  k: kField,
  /** Number of dead latents AuxK may use to model the residual. */
  aux_k: numberField({ default: null, integer: true, min: 1, compute: ({ dIn, dSae }) => Math.max(1, Math.min(dSae, Math.floor(dIn / 2))) }),
  aux_k_coefficient: numberField({ default: 1 / 32, min: 0 }),
} as const;

/** λ of an L1 penalty (relu, gated, crosscoder). */
export const l1Field = numberField({ default: 1, min: 0, form: { label: 'L1 coefficient λ' } });

/** Rate of the running average that learns BatchTopK's global inference threshold. */
export const thresholdLrField = numberField({ default: 0.01, min: 0, minExclusive: true, max: 1 });

/** The linear SAE's tensors (SAELens "standard" layout). */
export function linearShapes(dSae: number, dIn: number): Record<string, number[]> {
  return { W_enc: [dIn, dSae], b_enc: [dSae], W_dec: [dSae, dIn], b_dec: [dIn] };
}

/** Layers a multi-layer variant reads: layer_start … layer_end. */
export const layerCount = (c: CommonConfig): number => c.layer_end - c.layer_start + 1;

/** The script header's note for a penalty variant whose λ a controller moved. */
export function lambdaNotes(c: CommonConfig): string[] {
  return c.sparsity_mode === 'target_l0'
    ? [`λ is the value the workbench run used last (sparsity_mode target_l0: a controller steered it towards L0 = ${c.target_l0} · d_sae); SAELens keeps it fixed, so check L0 in its logs and adjust.`]
    : [];
}

/**
 * SAELens TopK-family fields. Our TopK family keeps decoder rows at unit norm after every step;
 * SAELens's equivalent is to rank and scale activations as if the decoder were normalised
 * (rescale_acts_by_decoder_norm).
 */
export function kScriptFields(k: number, auxCoefficient: number): [string, PyValue, string?][] {
  return [
    ['k', k],
    ['aux_loss_coefficient', auxCoefficient, 'workbench aux_k_coefficient (SAELens fixes k_aux = d_in / 2)'],
    ['rescale_acts_by_decoder_norm', true, 'the workbench keeps decoder rows at unit norm'],
  ];
}

/** SAELens's standard (L1) fields for a λ. */
export function l1ScriptFields(lambda: number, c: CommonConfig, why?: string): [string, PyValue, string?][] {
  return [
    why === undefined ? ['l1_coefficient', lambda] : ['l1_coefficient', lambda, why],
    ['lp_norm', 1.0],
    ['l1_warm_up_steps', c.lambda_warmup_steps],
  ];
}
