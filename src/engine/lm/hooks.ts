// Points of a transformer's forward pass, named as TransformerLens names its hooks, and numbered
// by how deep into the model they are: residual site l (0 ≤ l ≤ n_layers) is the residual stream
// before block l (blocks.l.hook_resid_pre; site n_layers = blocks.{n_layers − 1}.hook_resid_post),
// and the points inside block l sit between l and l + 1: hook_attn_out at l + 0.25,
// hook_resid_mid at l + 0.5, hook_mlp_out at l + 0.75. Numbers keep the order of the forward pass,
// so "the block a site is in" is ⌊site⌋ and "the blocks a pass must run" is ⌈site⌉. No tfjs: the
// page names sites too.

export const INNER_HOOKS = { hook_attn_out: 0.25, hook_resid_mid: 0.5, hook_mlp_out: 0.75 } as const;
export type InnerHook = keyof typeof INNER_HOOKS;

/** What a model must say for its sites to be named and checked. */
export interface HookedShape {
  nLayers: number;
  /** GPT-NeoX's parallel attention and MLP: no resid_mid. */
  parallelResidual?: boolean;
}

/** The TransformerLens name of a site. */
export function siteName(site: number, nLayers: number): string {
  if (!(site >= 0 && site <= nLayers)) return `site ${site}`;
  if (Number.isInteger(site)) return site < nLayers ? `blocks.${site}.hook_resid_pre` : `blocks.${nLayers - 1}.hook_resid_post`;
  const block = Math.floor(site);
  const inner = (Object.keys(INNER_HOOKS) as InnerHook[]).find((h) => INNER_HOOKS[h] === site - block);
  return inner ? `blocks.${block}.${inner}` : `site ${site}`;
}

/**
 * The site of a hook name: blocks.L.hook_resid_pre → L, hook_resid_post → L + 1, hook_attn_out →
 * L + 0.25, hook_resid_mid → L + 0.5, hook_mlp_out → L + 0.75; undefined for any other name.
 */
export function siteOfHook(hook: unknown): number | undefined {
  const m = typeof hook === 'string' ? /^blocks\.(\d+)\.(hook_\w+)$/.exec(hook) : null;
  if (!m) return undefined;
  const layer = Number(m[1]);
  if (m[2] === 'hook_resid_pre') return layer;
  if (m[2] === 'hook_resid_post') return layer + 1;
  const inner = INNER_HOOKS[m[2] as InnerHook];
  return inner === undefined ? undefined : layer + inner;
}

/** Why a site is not a point of this model, or null when it is. */
export function siteProblem(site: number, model: HookedShape): string | null {
  const n = model.nLayers;
  if (!Number.isFinite(site) || site < 0 || site > n) return `site ${site} is outside the model's ${n} blocks (residual sites 0 … ${n})`;
  if (Number.isInteger(site)) return null;
  const name = siteName(site, n);
  if (!name.startsWith('blocks.')) return `site ${site} is no hook of a block (inner hooks sit at l + 0.25 attn_out, l + 0.5 resid_mid, l + 0.75 mlp_out)`;
  if (name.endsWith('hook_resid_mid') && model.parallelResidual) return `${name} does not exist in this model: its attention and MLP read the same residual in parallel (GPT-NeoX), so there is no residual between them`;
  return null;
}

/** Every hook of a model in forward order, by site. */
export function modelSites(model: HookedShape): number[] {
  const out: number[] = [];
  for (let l = 0; l <= model.nLayers; l++) {
    out.push(l);
    if (l === model.nLayers) break;
    for (const f of Object.values(INNER_HOOKS)) if (!siteProblem(l + f, model)) out.push(l + f);
  }
  return out;
}
