// What a complete run of the fused-kernel checks (src/bench/kernelChecks.ts) must cover, by the
// checks' names. Kept free of imports: the browser test (e2e/kernels.spec.ts) loads it in the
// Playwright runner, and the Node test (src/bench/kernelChecks.webgpu.test.ts) next to the engine.

/**
 * What a complete run must have checked, as a list of what is missing (empty when complete): every
 * kernel family against the composition on the same backend, against plain JS, its gradients and
 * its leaks; the dispatch to the fused kernels; and every sparse step through the Trainer itself
 * (src/bench/kernelCheckSparse.ts checkTrainerSparse), sparse at every step with its parameters
 * those of the dense step. A check that silently stopped running shows up here.
 */
export function missingCoverage(names: readonly string[]): string[] {
  const missing: string[] = [];
  for (const f of ['jumprelu', 'heaviside', 'topk', 'batchtopk', 'adam', 'normalize']) {
    const mine = names.filter((n) => n.startsWith(`${f} `));
    if (!mine.some((n) => n.includes('= composition'))) missing.push(`${f} against the composition`);
    if (!mine.some((n) => n.includes('= JS'))) missing.push(`${f} against JS`);
    if (!mine.some((n) => n.includes('leaks nothing'))) missing.push(`${f} leak check`);
    if (!['adam', 'normalize'].includes(f) && !mine.some((n) => n.includes('∂'))) missing.push(`${f} gradients`);
  }
  const dispatched = names.filter((n) => n.includes('runs its fused kernel')).length;
  if (dispatched < 8) missing.push(`dispatch checks (${dispatched} of at least 8)`);
  for (const v of ['topk', 'jumprelu', 'relu', 'batchtopk', 'matryoshka']) {
    const mine = names.filter((n) => n.startsWith(`sparse step ${v}: Trainer.runSteps`));
    if (!mine.some((n) => n.includes('takes the sparse step at every step'))) missing.push(`${v} sparse through the trainer`);
    const compared = mine.filter((n) => n.includes('= sparse off')).length;
    if (compared < 4) missing.push(`${v} parameters against the dense trainer (${compared} of at least 4)`);
  }
  return missing;
}
