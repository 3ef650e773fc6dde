// Adam (Kingma & Ba) over named variables. Written out rather than tf.train.adam so that the
// learning rate can change live between steps and the moments are ours to save and restore.
import * as tf from '@tensorflow/tfjs';
import type { Params } from './variants/types';
import { useFusedKernels } from './ops/webgpu/program';
import { adamMomentWebGPU, adamParamWebGPU } from './ops/webgpu/adam';
import { runKernel, WASM_KERNELS, wasmKernelHere } from './ops/wasm/registered';

export interface AdamApplyOptions {
  /** Multiply each gradient by this first (clipping by the global norm: trainStep.ts clipScale). */
  scale?: tf.Scalar;
  /** The gradients are spent after the update: dispose each once its parameter is updated. */
  consume?: boolean;
}

export class Adam {
  private readonly m: Record<string, tf.Variable> = {};
  private readonly v: Record<string, tf.Variable> = {};
  private t = 0;

  constructor(params: Params, private beta1: number, private beta2: number, private epsilon = 1e-8) {
    // tidy frees the zero tensors; each variable keeps its own reference to the data.
    tf.tidy(() => {
      for (const [name, p] of Object.entries(params)) {
        this.m[name] = tf.variable(tf.zerosLike(p), false);
        this.v[name] = tf.variable(tf.zerosLike(p), false);
      }
    });
  }

  get stepCount(): number {
    return this.t;
  }

  set stepCount(t: number) {
    this.t = t;
  }

  /** The moment variables by name (`m/<param>`, `v/<param>`), for saving and restoring a run. */
  get moments(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const [name, t] of Object.entries(this.m)) out[`m/${name}`] = t;
    for (const [name, t] of Object.entries(this.v)) out[`v/${name}`] = t;
    return out;
  }

  /**
   * One update p ← p − lr · m̂ / (√v̂ + ε) for every param that has a gradient. On the webgpu
   * backend each of m, v and p is one fused kernel (ops/webgpu/adam.ts, the same arithmetic).
   */
  apply(params: Params, grads: Record<string, tf.Tensor>, lr: number, opts: AdamApplyOptions = {}): void {
    this.t += 1;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    // A tidy per parameter: the values an update replaces are freed before the next parameter's
    // update allocates (one tidy over all of them held every old value to its end).
    if (useFusedKernels()) {
      for (const [name, g] of this.scaled(grads, opts)) {
        tf.tidy(() => {
          const m = this.m[name];
          const v = this.v[name];
          m.assign(adamMomentWebGPU(m, g, this.beta1, false));
          v.assign(adamMomentWebGPU(v, g, this.beta2, true));
          params[name].assign(adamParamWebGPU(params[name], m, v, lr / c1, c2, this.epsilon));
        });
      }
      return;
    }
    if (wasmKernelHere(WASM_KERNELS.adam)) {
      // One pass over p, g, m and v (ops/wasm/registered.ts) instead of ten tfjs kernels; the same
      // arithmetic in the same order, with the same float32 constants. It takes the clipping factor
      // itself, so no scaled copy of the gradient is made.
      for (const [name, g] of Object.entries(grads)) {
        tf.tidy(() => {
          const attrs = { beta1: this.beta1, beta2: this.beta2, lrOverC1: lr / c1, c2, epsilon: this.epsilon };
          const inputs = { p: params[name], g, m: this.m[name], v: this.v[name], ...(opts.scale ? { scale: opts.scale } : {}) };
          const [p, m, v] = runKernel(WASM_KERNELS.adam, inputs, attrs) as tf.Tensor[];
          this.m[name].assign(m);
          this.v[name].assign(v);
          params[name].assign(p);
        });
        if (opts.consume) g.dispose();
      }
      return;
    }
    for (const [name, g] of this.scaled(grads, opts)) {
      tf.tidy(() => {
        const m = this.m[name];
        const v = this.v[name];
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const step = tf.div(tf.mul(m, lr / c1), tf.add(tf.sqrt(tf.div(v, c2)), this.epsilon));
        params[name].assign(tf.sub(params[name], step));
      });
    }
  }

  /**
   * The gradients one at a time, each times `opts.scale` when given (gradient clipping), and with
   * `opts.consume` each (and its scaled copy) freed once the loop moves on: a step then holds one
   * spent gradient at a time rather than all of them and a clipped set (memoryBudget.ts).
   */
  private *scaled(grads: Record<string, tf.Tensor>, opts: AdamApplyOptions): Generator<[string, tf.Tensor]> {
    for (const [name, g] of Object.entries(grads)) {
      const used = opts.scale ? tf.mul(g, opts.scale) : g;
      yield [name, used];
      if (opts.consume) { g.dispose(); used.dispose(); }
      else if (used !== g) used.dispose();
    }
  }

  /**
   * Restart the moments of the given latents (after resampling them), so stale momentum does not
   * drag the fresh weights back. Every axis of length dSae is treated as a latent axis.
   */
  resetLatents(latents: number[], dSae: number): void {
    if (latents.length === 0) return;
    const keep = new Float32Array(dSae).fill(1);
    for (const i of latents) keep[i] = 0;
    tf.tidy(() => {
      const mask = tf.tensor1d(keep);
      for (const moments of [this.m, this.v]) {
        for (const t of Object.values(moments)) {
          let next: tf.Tensor = t;
          t.shape.forEach((size, axis) => {
            if (size !== dSae) return;
            const shape = t.shape.map((_, a) => (a === axis ? dSae : 1));
            next = tf.mul(next, tf.reshape(mask, shape));
          });
          if (next !== t) t.assign(next);
        }
      }
    });
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
  }
}
