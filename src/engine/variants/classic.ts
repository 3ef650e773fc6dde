// Classic sparse autoencoder (docs/variants.md): a 2-layer encoder and a 2-layer decoder around the
// latents, ReLU everywhere, with an L1, KL or Hoyer sparsity penalty on the latents.
//   h = ReLU(x W1 + b1)            W1 [d_in, hidden]
//   z = ReLU(h W_enc + b_enc)      W_enc [hidden, d_sae]           latents f = z
//   g = ReLU(z Ŵ_dec + b2)         Ŵ_dec = W_dec with unit-norm rows [d_sae, hidden]
//   x̂ = g W_out + b_dec            W_out [hidden, d_in]
//   loss = mean_b ||x − x̂||² + λ · penalty(z)
// The decoder rows (one per latent) are normalised inside the forward pass, so the
// gradient flows through the normalisation (it is orthogonal to each row: only directions learn).
// Tied weights: W_dec and W_out are not parameters; Ŵ_dec = W_encᵀ with unit-norm rows (each row is
// one latent's column of W_enc, normalised) and W_out = W1ᵀ. Tied or untied, the same thing is
// normalised: one decoder vector per latent, because each latent's basis vector is meant to have
// unit norm. (Normalising rows of a weight in PyTorch's [out, in] layout would normalise per
// output unit instead, which is not that.)
// No SAELens equivalent: exported under our own architecture name with every tensor by its name.
import * as tf from '@tensorflow/tfjs';
import { classicDeclaration, type ClassicConfig } from './classic.decl';
import { declaredSaeLensConfig } from './declaration';
import { reconstructionLoss } from '../losses';
import { matMul } from '../ops/matmul';
import type { Rng } from '../rng';
import { hoyerPenalty, klPenalty, l1Penalty } from '../sparsityPenalties';
import type { DataStats, Params, Variant } from './types';
import { applyInferenceThreshold, normalizeDecoderRows } from './linear';

/** Row norms are taken as max(||w||, ROW_NORM_EPS), so a zero row cannot divide by zero. */
export const ROW_NORM_EPS = 1e-8;

/**
 * w / max(||w_row||₂, ε) for w [r, c]. Written as √max(Σw², ε²) so that the gradient stays finite
 * on a zero row (tf.norm's gradient there is 0/0 = NaN): such a row then gets a large gradient and
 * leaves zero at the next step, rather than poisoning the run.
 */
export function normalizeRows(w: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const norms = tf.sqrt(tf.maximum(tf.sum(tf.square(w), 1, true), ROW_NORM_EPS * ROW_NORM_EPS)); // [r, 1]
    return tf.div(w, norms) as tf.Tensor2D;
  });
}

/** Uniform(−a, a) values from the run's Rng (tfjs's random ops differ between backends). */
function uniform(n: number, a: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * a;
  return out;
}

export function makeClassicVariant(cfg: ClassicConfig): Variant<ClassicConfig> {
  const tied = cfg.tied_weights;
  const rho = cfg.kl_target;
  const penalty = (z: tf.Tensor2D): tf.Scalar => {
    switch (cfg.sparsity_type) {
      case 'l1': return l1Penalty(z);
      case 'kl': return klPenalty(z, rho);
      case 'hoyer': return hoyerPenalty(z);
    }
  };

  /** The decoder's first matrix Ŵ_dec [d_sae, hidden], rows unit-norm. */
  const decoderMatrix = (p: Params): tf.Tensor2D =>
    tf.tidy(() => normalizeRows(tied ? (tf.transpose(p.W_enc) as tf.Tensor2D) : (p.W_dec as tf.Tensor2D)));
  /** The decoder's output matrix W_out [hidden, d_in]. */
  const outMatrix = (p: Params): tf.Tensor2D => (tied ? (tf.transpose(p.W1) as tf.Tensor2D) : (p.W_out as tf.Tensor2D));

  /** z = ReLU(ReLU(x W1 + b1) W_enc + b_enc): x [B, d_in] → [B, d_sae]. */
  /** Latent pre-activations h W_enc + b_enc [B, d_sae], with h = ReLU(x W1 + b1) [B, hidden]. */
  const preLatents = (p: Params, x: tf.Tensor2D): tf.Tensor2D => tf.tidy(() => {
    const h = tf.relu(tf.add(matMul(x, p.W1 as tf.Tensor2D), p.b1)) as tf.Tensor2D; // [B, hidden]
    return tf.add(matMul(h, p.W_enc as tf.Tensor2D), p.b_enc) as tf.Tensor2D; // [B, d_sae]
  });
  const latents = (p: Params, x: tf.Tensor2D): tf.Tensor2D => tf.tidy(() => tf.relu(preLatents(p, x)) as tf.Tensor2D);

  /** x̂ = ReLU(z Ŵ_dec + b2) W_out + b_dec: z [B, d_sae] → [B, d_in]. */
  const decode = (p: Params, z: tf.Tensor2D): tf.Tensor2D => tf.tidy(() => {
    const g = tf.relu(tf.add(matMul(z, decoderMatrix(p)), p.b2)) as tf.Tensor2D; // [B, hidden]
    return tf.add(matMul(g, outMatrix(p)), p.b_dec) as tf.Tensor2D; // [B, d_in]
  });

  return {
    architecture: classicDeclaration.architecture,
    decoderRowsInInputSpace: false,
    label: `Classic (2-layer, ${cfg.sparsity_type}${tied ? ', tied' : ''})`,
    paramNames: tied
      ? ['W1', 'b1', 'W_enc', 'b_enc', 'b2', 'b_dec']
      : ['W1', 'b1', 'W_enc', 'b_enc', 'W_dec', 'b2', 'W_out', 'b_dec'],

    /**
     * Weights as PyTorch's nn.Linear default, U(±1/√fan_in); W_dec rows
     * are random unit vectors (only their direction matters, and unit norm keeps Adam's relative
     * step the same for every latent). b_dec = data mean so x̂ starts at the mean. b1 = −mean·W1, so
     * the first layer starts on centred inputs, h = ReLU((x − mean) W1): on raw activations with a
     * large mean, x W1 would otherwise leave many hidden units always on or always off. b_enc = b2 = 0.
     */
    init(c: ClassicConfig, stats: DataStats, rng: Rng): Params {
      const dIn = stats.dIn, H = c.hidden_dim, S = c.d_sae;
      const w1 = uniform(dIn * H, 1 / Math.sqrt(dIn), rng);
      const wEnc = uniform(H * S, 1 / Math.sqrt(H), rng);
      const b1 = new Float32Array(H);
      for (let j = 0; j < H; j++) {
        let s = 0;
        for (let i = 0; i < dIn; i++) s += stats.mean[i] * w1[i * H + j];
        b1[j] = -s;
      }
      return tf.tidy(() => {
        const p: Params = {
          W1: tf.variable(tf.tensor2d(w1, [dIn, H]), true), // [d_in, hidden]
          b1: tf.variable(tf.tensor1d(b1), true), // [hidden]
          W_enc: tf.variable(tf.tensor2d(wEnc, [H, S]), true), // [hidden, d_sae]
          b_enc: tf.variable(tf.zeros([S]), true), // [d_sae]
        };
        if (!tied) {
          const wDec = new Float32Array(S * H);
          for (let i = 0; i < S; i++) {
            let norm = 0;
            for (let j = 0; j < H; j++) { const v = rng.normal(); wDec[i * H + j] = v; norm += v * v; }
            norm = Math.sqrt(norm) || 1;
            for (let j = 0; j < H; j++) wDec[i * H + j] /= norm;
          }
          p.W_dec = tf.variable(tf.tensor2d(wDec, [S, H]), true); // [d_sae, hidden]
        }
        p.b2 = tf.variable(tf.zeros([H]), true); // [hidden]
        if (!tied) p.W_out = tf.variable(tf.tensor2d(uniform(H * dIn, 1 / Math.sqrt(H), rng), [H, dIn]), true); // [hidden, d_in]
        p.b_dec = tf.variable(tf.tensor1d(stats.mean.subarray(0, dIn)), true); // [d_in]
        return p;
      });
    },

    encode: (p, x, live) => tf.tidy(() => applyInferenceThreshold(latents(p, x), live.threshold)),
    decode,

    loss(p, x, live) {
      const pre = preLatents(p, x);
      const z = tf.relu(pre) as tf.Tensor2D;
      const xHat = decode(p, z);
      const recon = reconstructionLoss(x, xHat);
      const sparsity = tf.mul(penalty(z), live.lambda) as tf.Scalar;
      return { total: tf.add(recon, sparsity), recon, sparsity, aux: tf.scalar(0), f: z, pre, xHat };
    },

    // The forward pass already uses unit-norm rows, so rescaling the stored W_dec rows changes no
    // output. Doing it anyway, after each step, stops the rows' norms from
    // drifting — the gradient is orthogonal to each row, so steps only ever lengthen it, which would
    // slow learning — and keeps them away from 0. Tied: W_enc's columns also drive the encoder, so
    // rescaling them would change z; nothing to do.
    constrain: tied ? undefined : normalizeDecoderRows,

    exportTensors(p) {
      const out: Record<string, tf.Tensor> = { W1: p.W1, b1: p.b1, W_enc: p.W_enc, b_enc: p.b_enc };
      out.W_dec = decoderMatrix(p); // new tensor [d_sae, hidden], the normalised rows the forward uses
      out.b2 = p.b2;
      out.W_out = tied ? tf.tidy(() => tf.transpose(p.W1)) : p.W_out; // [hidden, d_in]
      out.b_dec = p.b_dec;
      return out;
    },

    saelensConfig: declaredSaeLensConfig(classicDeclaration),
  };
}
