// Multi-layer SAE: its declaration (the math is ./mlsae.ts). It IS a TopK SAE applied per layer, so
// the export is a plain SAELens `topk` SAE.
import { declareVariant, type DeclaredConfig } from './declaration';
import { K_FIELDS, kScriptFields, layerCount, linearShapes } from './shared';

export const mlsaeDeclaration = declareVariant({
  architecture: 'mlsae',
  label: 'MLSAE',
  description: 'One TopK SAE shared by all layers of an [L, N, d] file; each layer’s vector is a row of its own.',
  sparsity: { kind: 'k' },
  multiLayer: { defaultLayers: (nLayers) => ({ start: 0, end: nLayers - 1 }) },
  fields: K_FIELDS,
  saelens: {
    architecture: 'topk',
    config: (_c, live) => ({ k: live.k, rescale_acts_by_decoder_norm: false }),
    affineLayout: true,
    script: (c) => ({
      cls: 'TopKTrainingSAEConfig', notes: [], fields: kScriptFields(c.k, c.aux_k_coefficient),
      substitute: `the MLSAE shares one TopK SAE across layers ${c.layer_start}..${c.layer_end} (each layer's vector a separate row); SAELens trains on one hook, so this is a TopK SAE on one layer (HOOK_NAME). Run it once per layer, or on the middle layer.`,
    }),
  },
  parameterShapes: (c, dIn) => linearShapes(c.d_sae, dIn),
  // The layers are extra rows of the latents.
  memory: { act: 18, tape: 5, io: 16, rowsPerInput: layerCount },
  charts: { layers: () => ({ prefix: 'l0_per_layer', title: 'L0 per layer (mean active latents on each layer’s rows)', yTitle: 'active latents', stacked: false }) },
});

export type MlsaeConfig = DeclaredConfig<typeof mlsaeDeclaration>;
