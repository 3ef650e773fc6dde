// Gated SAE: its declaration (the math is ./gated.ts).
import { declareVariant, type DeclaredConfig } from './declaration';
import { l1Field, lambdaNotes } from './shared';

export const gatedDeclaration = declareVariant({
  architecture: 'gated',
  label: 'Gated',
  description: 'A gate path decides which latents fire and a magnitude path how strongly (shared W_enc); the L1 penalty acts on the gate only.',
  sparsity: { kind: 'penalty', lambdaKey: 'l1_coefficient' },
  fields: {
    /** λ of the L1 penalty on ReLU(π_gate), weighted by decoder norms. */
    l1_coefficient: l1Field,
  },
  saelens: {
    architecture: 'gated',
    affineLayout: true,
    importFrom: ['gated'],
    script: (c) => ({
      cls: 'GatedTrainingSAEConfig', notes: lambdaNotes(c),
      fields: [['l1_coefficient', c.l1_coefficient, 'λ of the L1 penalty on ReLU(π_gate)'], ['l1_warm_up_steps', c.lambda_warmup_steps]],
    }),
  },
  parameterShapes: (c, dIn) => ({ W_enc: [dIn, c.d_sae], b_gate: [c.d_sae], r_mag: [c.d_sae], b_mag: [c.d_sae], W_dec: [c.d_sae, dIn], b_dec: [dIn] }),
  memory: { act: 17.5, tape: 8, io: 16 },
});

export type GatedConfig = DeclaredConfig<typeof gatedDeclaration>;
