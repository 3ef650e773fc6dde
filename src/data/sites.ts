// Residual sites of a language model named as TransformerLens names its hooks: site l (0 ≤ l <
// n_layers) is blocks.l.hook_resid_pre; site n_layers (after the last block) is
// blocks.{n_layers − 1}.hook_resid_post. No dependencies: the page uses it too.

export function siteName(site: number, nLayers: number): string {
  return site < nLayers ? `blocks.${site}.hook_resid_pre` : `blocks.${nLayers - 1}.hook_resid_post`;
}

/** The site of a hook name (blocks.L.hook_resid_pre → L, blocks.L.hook_resid_post → L + 1), or undefined. */
export function siteOfHook(hook: unknown): number | undefined {
  const m = typeof hook === 'string' ? /^blocks\.(\d+)\.hook_resid_(pre|post)$/.exec(hook) : null;
  if (!m) return undefined;
  return Number(m[1]) + (m[2] === 'post' ? 1 : 0);
}
