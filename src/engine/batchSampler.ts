// The trainer's batch sampler: rows of an in-memory training split in a seeded shuffled order.
// It lives in the engine, not in src/data/dataset.ts (which re-exports it), because the trainer
// (src/engine/trainer.ts) constructs it and the engine may not import src/data, a layer above it
// (.dependency-cruiser.cjs).
import { createRng, permutation, type Rng, type RngState } from './rng';

/** Batches of rows in a seeded shuffled order; every row once per epoch, reshuffled each epoch. */
export interface SamplerState {
  orderFrom: RngState;
  pos: number;
  epochs: number;
}

export class BatchSampler {
  private readonly rng: Rng;
  private order: Uint32Array;
  private pos = 0;
  private epochs = 0;
  /** Indices (into the sampler's rows) of the last batch returned by next(). */
  readonly lastRows: Uint32Array;

  /** The generator's state before the current epoch's permutation (the order is redrawn from it on restore). */
  private orderFrom: RngState;

  constructor(private readonly data: Float32Array, private readonly rows: number, private readonly dIn: number, private readonly batchSize: number, seed: number) {
    this.rng = createRng(seed);
    this.orderFrom = this.rng.state();
    this.order = permutation(rows, this.rng);
    this.lastRows = new Uint32Array(batchSize);
  }

  /** Where the sampler is: enough to continue with exactly the batches it would have drawn. */
  state(): SamplerState {
    return { orderFrom: { ...this.orderFrom }, pos: this.pos, epochs: this.epochs };
  }

  restore(state: SamplerState): void {
    this.rng.restore(state.orderFrom);
    this.orderFrom = this.rng.state();
    this.order = permutation(this.rows, this.rng);
    this.pos = state.pos;
    this.epochs = state.epochs;
  }

  get epoch(): number {
    return this.epochs;
  }

  /** A fresh [batchSize · width] array (width = the row width passed as dIn) (the caller hands it to tf.tensor). */
  next(): Float32Array {
    const d = this.dIn;
    const out = new Float32Array(this.batchSize * d);
    for (let b = 0; b < this.batchSize; b++) {
      if (this.pos >= this.rows) {
        this.orderFrom = this.rng.state();
        this.order = permutation(this.rows, this.rng);
        this.pos = 0;
        this.epochs += 1;
      }
      const r = this.order[this.pos++];
      this.lastRows[b] = r;
      out.set(this.data.subarray(r * d, (r + 1) * d), b * d);
    }
    return out;
  }
}
