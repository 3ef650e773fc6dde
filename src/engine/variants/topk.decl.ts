// TopK SAE: its declaration (the math is ./topk.ts).
import { declareVariant, type DeclaredConfig } from './declaration';
import { K_FIELDS, kScriptFields, linearShapes } from './shared';

export const topkDeclaration = declareVariant({
  architecture: 'topk',
  label: 'TopK',
  description: 'Keeps the k largest pre-activations of each row; sparsity is set directly, no penalty. AuxK revives dead latents.',
  sparsity: { kind: 'k' },
  fields: K_FIELDS,
  saelens: {
    architecture: 'topk',
    config: (_c, live) => ({ k: live.k, rescale_acts_by_decoder_norm: false }),
    affineLayout: true,
    importFrom: ['topk'],
    script: (c) => ({ cls: 'TopKTrainingSAEConfig', notes: [], fields: kScriptFields(c.k, c.aux_k_coefficient) }),
  },
  parameterShapes: (c, dIn) => linearShapes(c.d_sae, dIn),
  memory: { act: 14.5, tape: 5, io: 16, sparse: { act: 1, tape: 1.4 } },
});

export type TopKConfig = DeclaredConfig<typeof topkDeclaration>;
