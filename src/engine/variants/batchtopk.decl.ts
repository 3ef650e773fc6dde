// BatchTopK SAE: its declaration (the math is ./batchtopk.ts). Saved as SAELens "jumprelu" with the
// learned global threshold in every entry of `threshold`.
import { declareVariant, type DeclaredConfig } from './declaration';
import { K_FIELDS, kScriptFields, linearShapes, thresholdLrField } from './shared';

export const batchtopkDeclaration = declareVariant({
  architecture: 'batchtopk',
  label: 'BatchTopK',
  description: 'Keeps the k·B largest activations of the whole batch, so rows may use more or fewer than k; inference uses a learned global threshold.',
  sparsity: { kind: 'k' },
  fields: { ...K_FIELDS, threshold_lr: thresholdLrField },
  saelens: {
    architecture: 'jumprelu',
    affineLayout: true,
    importFrom: ['batchtopk'],
    script: (c) => ({
      cls: 'BatchTopKTrainingSAEConfig',
      notes: ['SAELens saves a BatchTopK SAE as "jumprelu" with the learned global threshold, as the workbench does.'],
      fields: [...kScriptFields(c.k, c.aux_k_coefficient), ['topk_threshold_lr', c.threshold_lr, 'workbench threshold_lr']],
    }),
  },
  parameterShapes: (c, dIn) => linearShapes(c.d_sae, dIn),
  exportShapes: (c, dIn) => ({ ...linearShapes(c.d_sae, dIn), threshold: [c.d_sae] }),
  memory: { act: 17, tape: 5, io: 16, sparse: { act: 1, tape: 1.4 } },
});

export type BatchTopKConfig = DeclaredConfig<typeof batchtopkDeclaration>;
