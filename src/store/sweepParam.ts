// The hyper-parameters a sweep can vary. A leaf file: the store (src/store/store.ts) and the run
// history (src/store/runHistory.ts) name it, and src/store/sweep.ts imports both of them, so
// keeping it in sweep.ts made an import cycle (.dependency-cruiser.cjs, no-circular).
export type SweepParam = 'lambda' | 'k' | 'd_sae' | 'bandwidth' | 'init_threshold';
