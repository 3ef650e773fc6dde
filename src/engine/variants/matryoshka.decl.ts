// Matryoshka BatchTopK SAE: its declaration (the math is ./matryoshka.ts). Saved as SAELens
// "jumprelu", as BatchTopK; the prefixes stay in the run config.
import { declareVariant, numberListField, type DeclaredConfig } from './declaration';
import { K_FIELDS, kScriptFields, linearShapes, thresholdLrField } from './shared';

/** d_sae/16, /8, /4, /2, d_sae (each at least 1, without repeats). */
export function defaultPrefixes(dSae: number): number[] {
  return [...new Set([dSae / 16, dSae / 8, dSae / 4, dSae / 2, dSae].map((v) => Math.max(1, Math.round(v))))];
}

export const matryoshkaDeclaration = declareVariant({
  architecture: 'matryoshka',
  label: 'Matryoshka BatchTopK',
  description: 'Nested prefixes of the dictionary each learn to reconstruct, so the first latents capture the most general features.',
  sparsity: { kind: 'k' },
  fields: {
    ...K_FIELDS,
    /** Nested dictionary sizes, ascending, the last = d_sae; each prefix learns to reconstruct. */
    matryoshka_prefixes: numberListField({
      default: null,
      compute: ({ dSae }) => defaultPrefixes(dSae),
      rule: ({ dSae }) => `a list of ascending positive integers ending at d_sae (${dSae}), such as [${defaultPrefixes(dSae).join(', ')}]`,
      validate: (p, { dSae }) => (p.some((v, i) => i > 0 && v <= p[i - 1]) || p[p.length - 1] !== dSae
        ? `matryoshka_prefixes ${JSON.stringify(p)} must ascend strictly and end at d_sae = ${dSae}.` : null),
      form: { label: 'Nested prefixes (comma list, ending at d_sae)', help: 'dictionary sizes that each learn to reconstruct; empty = d_sae/16, /8, /4, /2, d_sae' },
    }),
    threshold_lr: thresholdLrField,
  },
  // The prefixes must end exactly at d_sae: without d_sae, the last prefix is the d_sae to check against.
  dSaeBeforeData: (input) => {
    const p = input.matryoshka_prefixes;
    const last = Array.isArray(p) ? p[p.length - 1] : undefined;
    return Number.isInteger(last) && (last as number) > 0 ? (last as number) : undefined;
  },
  saelens: {
    architecture: 'jumprelu',
    affineLayout: true,
    importFrom: ['matryoshka_batchtopk'],
    script: (c) => ({
      cls: 'MatryoshkaBatchTopKTrainingSAEConfig',
      notes: ['SAELens sums the nested prefixes\' reconstruction losses where the workbench averages them, so its loss is larger by about the number of prefixes.'],
      fields: [
        ...kScriptFields(c.k, c.aux_k_coefficient),
        ['topk_threshold_lr', c.threshold_lr, 'workbench threshold_lr'],
        ['matryoshka_widths', c.matryoshka_prefixes, 'workbench matryoshka_prefixes (ascending, last = d_sae)'],
      ],
    }),
  },
  parameterShapes: (c, dIn) => linearShapes(c.d_sae, dIn),
  exportShapes: (c, dIn) => ({ ...linearShapes(c.d_sae, dIn), threshold: [c.d_sae] }),
  // io grows with the number of prefixes (a reconstruction each).
  memory: { act: 18.5, tape: 4, io: 16, extraIo: (c) => 10 * c.matryoshka_prefixes.length, sparse: { act: 1, tape: 1.4 } },
  withDSae: (c, dSae) => ({ ...c, matryoshka_prefixes: c.matryoshka_prefixes.map(() => dSae) }),
});

export type MatryoshkaConfig = DeclaredConfig<typeof matryoshkaDeclaration>;
