// Route SAE: its declaration (the math is ./routesae.ts). Saved under our own name: TopK's tensors
// and the router [d_in, L].
import { choiceField, declareVariant, type DeclaredConfig } from './declaration';
import { K_FIELDS, kScriptFields, layerCount, linearShapes } from './shared';

export const routesaeDeclaration = declareVariant({
  architecture: 'routesae',
  label: 'RouteSAE',
  description: 'A router picks (hard) or weighs (soft) the layer a shared TopK SAE reads for each token.',
  sparsity: { kind: 'k' },
  multiLayer: {},
  fields: {
    ...K_FIELDS,
    routing: choiceField(['hard', 'soft'], { default: 'hard', form: { label: 'Routing', help: 'hard: each token reads one layer; soft: a weighted mix of the layers' } }),
    aggregation: choiceField(['sum', 'mean'], { default: 'sum', form: { label: 'Aggregation', help: 'how the layers are pooled into the router’s input' } }),
  },
  saelens: {
    architecture: 'routesae',
    config: (c, live) => ({ k: live.k, routing: c.routing, aggregation: c.aggregation, n_layers: layerCount(c) }),
    affineLayout: true,
    script: (c) => ({
      cls: 'TopKTrainingSAEConfig', notes: [], fields: kScriptFields(c.k, c.aux_k_coefficient),
      substitute: `RouteSAE routes each token to one of layers ${c.layer_start}..${c.layer_end} (${c.routing} routing on the ${c.aggregation} of the layers) before a shared TopK SAE; SAELens trains on one hook, so this is the TopK SAE on one layer (HOOK_NAME).`,
    }),
  },
  parameterShapes: (c, dIn) => ({ ...linearShapes(c.d_sae, dIn), router: [dIn, layerCount(c)] }),
  memory: { act: 17, tape: 5, io: 16 },
  charts: {
    layers: (c) => (c.routing === 'hard'
      ? { prefix: 'route_share', title: 'Routing share: fraction of tokens routed to each layer', yTitle: 'share of tokens', stacked: true }
      : { prefix: 'route_share', title: 'Routing share: mean soft routing weight per layer', yTitle: 'mean weight', stacked: true }),
  },
});

export type RouteSaeConfig = DeclaredConfig<typeof routesaeDeclaration>;
