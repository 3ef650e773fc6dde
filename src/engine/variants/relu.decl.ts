// ReLU SAE with an L1 penalty: what the config, the Model panel, the SAELens export and script and
// the memory estimate know of it (the math is ./relu.ts).
import { declareVariant, type DeclaredConfig } from './declaration';
import { l1Field, l1ScriptFields, lambdaNotes, linearShapes } from './shared';

export const reluDeclaration = declareVariant({
  architecture: 'relu',
  label: 'ReLU + L1',
  description: 'Linear encoder, ReLU, and an L1 penalty on the latents weighted by decoder norms. The standard baseline.',
  sparsity: { kind: 'penalty', lambdaKey: 'l1_coefficient' },
  fields: {
    /** λ of the L1 penalty λ·Σ_i f_i·||W_dec,i|| (decoder rows are unit-norm, so plain L1). */
    l1_coefficient: l1Field,
  },
  saelens: {
    architecture: 'standard',
    affineLayout: true,
    importFrom: ['standard'],
    script: (c) => ({ cls: 'StandardTrainingSAEConfig', notes: lambdaNotes(c), fields: l1ScriptFields(c.l1_coefficient, c, 'λ of λ·Σ f_i·‖W_dec,i‖') }),
  },
  parameterShapes: (c, dIn) => linearShapes(c.d_sae, dIn),
  memory: { act: 10, tape: 7, io: 16, written: { act: 2, tape: 4.25, opsAct: 6.3, opsTape: 8 } },
});

export type ReluConfig = DeclaredConfig<typeof reluDeclaration>;
