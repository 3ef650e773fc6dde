// RandomK, the lower-bound baseline: its declaration (the math is ./randomk.ts). SAELens has no
// such architecture: saved with TopK's tensors under our own name "randomk".
import { declareVariant, type DeclaredConfig } from './declaration';
import { kField, kScriptFields, linearShapes } from './shared';

export const randomkDeclaration = declareVariant({
  architecture: 'randomk',
  label: 'RandomK (baseline)',
  description: 'k latents chosen at random per row: a sanity baseline that any real SAE should beat.',
  sparsity: { kind: 'k' },
  fields: { k: kField },
  saelens: {
    architecture: 'randomk',
    config: (_c, live) => ({ k: live.k }),
    affineLayout: true,
    script: (c) => ({
      cls: 'TopKTrainingSAEConfig', notes: [], fields: kScriptFields(c.k, 1 / 32),
      substitute: 'RandomK (k random latents per row) is a baseline; the closest SAELens training is TopK with the same k, which learns which latents to use.',
    }),
  },
  parameterShapes: (c, dIn) => linearShapes(c.d_sae, dIn),
  memory: { act: 9, tape: 3, io: 16 },
});

export type RandomKConfig = DeclaredConfig<typeof randomkDeclaration>;
