// Sites of a language model named as TransformerLens names its hooks (src/engine/lm/hooks.ts
// numbers them: residual site l is blocks.l.hook_resid_pre, site n_layers is the last block's
// hook_resid_post, block l's attn_out / resid_mid / mlp_out sit at l + 0.25 / 0.5 / 0.75), and where
// the page and the CLI splice an SAE. No tfjs: the page uses it too.
import { siteName, siteOfHook } from '../engine/lm/hooks';

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
