// Sites of a language model named as TransformerLens names its hooks (src/engine/lm/hooks.ts
// numbers them: residual site l is blocks.l.hook_resid_pre, site n_layers is the last block's
// hook_resid_post, block l's attn_out / resid_mid / mlp_out sit at l + 0.25 / 0.5 / 0.75), and where
// the page and the CLI splice an SAE. No tfjs: the page uses it too.
import { siteName, siteOfHook, siteProblem } from '../engine/lm/hooks';

export { siteName, siteOfHook } from '../engine/lm/hooks';

/**
 * The warning shown when an SAE whose site is recorded (`recordedBy` says where: its cfg.json
 * hook_name, the activations a run was trained on) is spliced at another site, else null.
 */
export function hookMismatch(recorded: number | undefined, used: number, nLayers: number, recordedBy: string): string | null {
  if (recorded === undefined || recorded === used) return null;
  return `the SAE belongs at ${siteName(recorded, nLayers)} (${recordedBy}) but is spliced at ${siteName(used, nLayers)}: loss recovered there says little about it.`;
}

/**
 * Below this many predictions the page and the CLI add that loss recovered is noisy (the
 * validation documents of one small text give about a thousand).
 */
export const FEW_PREDICTIONS = 5000;

export interface SpliceTargetInput {
  nLayers: number;
  /** Sites of the loaded activations, when the model in the page extracted them. */
  datasetSites?: number[];
  /** The layer the user gave for activations from a file (null until chosen). */
  chosen: number | null;
  /** The SAE's own first site, when recorded. */
  recorded?: number;
  recordedBy: string;
}

/**
 * Where the page asks the worker to splice (src/data/languageModel.ts sitesFor resolves the same
 * way: a chosen layer, else the SAE's recorded site, else the extracted activations' sites), and
 * why Evaluate must wait or warn. Nothing is guessed: without any of the three, the user chooses.
 */
export function spliceTarget(i: SpliceTargetInput): { site?: number; disabledWhy: string | null; warning: string | null } {
  if (i.datasetSites) return { disabledWhy: null, warning: null };
  if (i.chosen !== null) return { site: i.chosen, disabledWhy: null, warning: hookMismatch(i.recorded, i.chosen, i.nLayers, i.recordedBy) };
  if (i.recorded !== undefined) return { disabledWhy: null, warning: null };
  return { disabledWhy: 'choose the model layer of the loaded activations first (Language model panel): the file does not say which layer it came from', warning: null };
}

/** spliceTarget for the page's run ('run') or imported SAE ('imported'), from the store's fields. */
export function spliceTargetOf(source: 'run' | 'imported', s: { lm: { model?: { nLayers: number }; datasetSites?: number[] } | null; spliceSite: number | null; imported: { cfg: Record<string, unknown> } | null }) {
  // A run's own sites need no record here: when its activations are no longer the loaded ones
  // the page refuses to splice it (staleRunProblem in src/store/store.ts).
  const recorded = source === 'imported' ? siteOfHook(s.imported?.cfg.hook_name) : undefined;
  return spliceTarget({ nLayers: s.lm?.model?.nLayers ?? 0, datasetSites: s.lm?.datasetSites, chosen: s.spliceSite, recorded, recordedBy: "its cfg.json's hook_name" });
}

/** The loaded model as the page and the CLI describe it. */
export interface LoadedModelShape {
  name: string;
  dim: number;
  nLayers: number;
  parallelResidual?: boolean;
}

/** What the SAE's cfg.json says about the model it reads, checked against the loaded model. */
export interface SaeModelMatch {
  /** The site of its hook_name in this model, when the model has it. */
  site?: number;
  /** Mismatches said plainly (another model's SAE, a hook the model lacks, another width). */
  problems: string[];
  /** How the SAE's activations were made (BOS, context, TransformerLens weight processing), in words. */
  conventions: string[];
  /** cfg.json's model_from_pretrained_kwargs.center_writing_weights: the activations were centred across d_model. */
  centred: boolean;
}

/**
 * TransformerLens's names of models whose Hugging Face folder is named otherwise (SAELens's
 * model_name is TransformerLens's); the rest match by name without the organisation.
 */
const TRANSFORMER_LENS_ALIASES: Record<string, string> = { 'gpt2-small': 'gpt2', 'gpt2-xl': 'gpt2-xl', 'gpt2-large': 'gpt2-large', 'gpt2-medium': 'gpt2-medium' };

function modelKey(name: string): string {
  const bare = name.trim().toLowerCase().split('/').pop()!.replace(/\.(bin|safetensors)$/, '');
  return TRANSFORMER_LENS_ALIASES[bare] ?? bare;
}

/** Check an SAE's cfg.json (model_name, hook_name, d_in, prepend_bos, context_size, …) against the loaded model. */
export function saeModelMatch(cfg: Record<string, unknown>, dIn: number, model: LoadedModelShape): SaeModelMatch {
  const problems: string[] = [];
  const conventions: string[] = [];
  const hook = cfg.hook_name;
  let site: number | undefined;
  if (typeof hook === 'string') {
    const s = siteOfHook(hook);
    const block = Number(/^blocks\.(\d+)\./.exec(hook)?.[1] ?? 0);
    const problem = s === undefined ? `${hook} is not a hook the workbench reads (resid_pre, attn_out, resid_mid, mlp_out, resid_post of a block)`
      : block >= model.nLayers ? `its blocks are 0 … ${model.nLayers - 1}` : siteProblem(s, model);
    if (problem) problems.push(`the SAE reads ${hook}, which ${model.name} does not have: ${problem}.`);
    else site = s;
  }
  if (typeof cfg.model_name === 'string' && modelKey(cfg.model_name) !== modelKey(model.name)) {
    problems.push(`the SAE was trained on ${cfg.model_name}, but the loaded model is ${model.name}: its features and loss recovered mean little here unless the two are the same model.`);
  }
  if (dIn !== model.dim) problems.push(`the SAE reads vectors of width ${dIn}, but ${model.name}'s residual stream has width ${model.dim}.`);
  if (cfg.prepend_bos === false) conventions.push('trained without BOS (prepend_bos false): documents run without BOS, every position a token of the text');
  else if (cfg.prepend_bos === true) conventions.push('trained with BOS first, as the workbench runs text');
  if (typeof cfg.context_size === 'number') conventions.push(`trained on contexts of ${cfg.context_size} tokens (documents are cut to that length)`);
  const kwargs = (cfg.model_from_pretrained_kwargs ?? {}) as Record<string, unknown>;
  const centred = kwargs.center_writing_weights === true;
  if (centred) conventions.push('TransformerLens center_writing_weights: its activations are centred across d_model (the workbench centres them at the hook)');
  return { site, problems, conventions, centred };
}
