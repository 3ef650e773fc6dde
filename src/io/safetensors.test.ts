import { describe, expect, it } from 'vitest';
import { metricRowsToCsv, parseCsvLog } from '../run/logCsv';
import { buildSaeLensCfg, buildSaeLensExport, readSaeLensExport } from './saelens';
import { SafetensorsError, readSafetensors, writeSafetensors } from './safetensors';
import type { MetricRow } from '../engine/types';

const ab = (u: Uint8Array) => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

describe('safetensors', () => {
  it('writes exactly the bytes of the reference layout', () => {
    const bytes = writeSafetensors({ b: { shape: [1], data: new Float32Array([2]) }, a: { shape: [2], data: new Float32Array([1, -1]) } });
    // Sorted names, offsets relative to the data section, header padded with spaces to 8 bytes.
    const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    const expected = new Uint8Array(8 + padded.length + 12);
    new DataView(expected.buffer).setUint32(0, padded.length, true);
    for (let i = 0; i < padded.length; i++) expected[8 + i] = padded.charCodeAt(i);
    expected.set(new Uint8Array(new Float32Array([1, -1, 2]).buffer), 8 + padded.length);
    expect(Array.from(bytes)).toEqual(Array.from(expected));
  });

  it('round-trips tensors and metadata', () => {
    const w = new Float32Array([0.5, 1.25, -3, 4e-7, 5, 6]);
    const { tensors, metadata } = readSafetensors(ab(writeSafetensors({ W: { shape: [2, 3], data: w } }, { format: 'pt' })));
    expect(tensors.W.shape).toEqual([2, 3]);
    expect(Array.from(tensors.W.data)).toEqual(Array.from(w));
    expect(metadata).toEqual({ format: 'pt' });
  });

  it('decodes F16 and BF16', () => {
    const header = JSON.stringify({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] } });
    const buf = new Uint8Array(8 + header.length + 8);
    new DataView(buf.buffer).setUint32(0, header.length, true);
    for (let i = 0; i < header.length; i++) buf[8 + i] = header.charCodeAt(i);
    const dv = new DataView(buf.buffer, 8 + header.length);
    dv.setUint16(0, 0x3c00, true); // 1
    dv.setUint16(2, 0xc100, true); // -2.5
    dv.setUint16(4, 0x3f80, true); // bf16 1
    dv.setUint16(6, 0xc040, true); // bf16 -3
    const { tensors } = readSafetensors(buf.buffer);
    expect(Array.from(tensors.h.data)).toEqual([1, -2.5]);
    expect(Array.from(tensors.b.data)).toEqual([1, -3]);
  });

  it('rejects truncated and malformed files', () => {
    const good = writeSafetensors({ W: { shape: [4], data: new Float32Array(4) } });
    expect(() => readSafetensors(ab(good.subarray(0, good.length - 4)), 'w.safetensors')).toThrow(/truncated/);
    expect(() => readSafetensors(new Uint8Array(4).buffer, 'w.safetensors')).toThrow(SafetensorsError);
    const junk = new Uint8Array(20);
    new DataView(junk.buffer).setUint32(0, 8, true);
    junk.set(new TextEncoder().encode('{notjson'), 8);
    expect(() => readSafetensors(junk.buffer, 'w.safetensors')).toThrow(/not valid JSON/);
    expect(() => writeSafetensors({ W: { shape: [3], data: new Float32Array(4) } })).toThrow(/shape \[3\] needs 3/);
  });
});

describe('SAELens export', () => {
  const dIn = 3, dSae = 4;
  const tensors = {
    W_enc: { shape: [dIn, dSae], data: Float32Array.from({ length: 12 }, (_, i) => i) },
    W_dec: { shape: [dSae, dIn], data: Float32Array.from({ length: 12 }, (_, i) => -i) },
    b_enc: { shape: [dSae], data: new Float32Array(dSae) },
    b_dec: { shape: [dIn], data: new Float32Array([1, 2, 3]) },
    threshold: { shape: [dSae], data: new Float32Array([0.1, 0.2, 0.3, 0.4]) },
  };

  it('writes cfg.json with the fields SAELens v6 needs', () => {
    const cfg = buildSaeLensCfg({ architecture: 'topk', d_in: dIn, d_sae: dSae, extra: { k: 2 }, metadata: { hook_name: 'blocks.3.hook_resid_pre' } });
    expect(cfg).toMatchObject({ architecture: 'topk', d_in: 3, d_sae: 4, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: true, normalize_activations: 'none', reshape_activations: 'none', k: 2 });
    expect((cfg.metadata as Record<string, string>).sae_lens_version).toMatch(/^6\.\d+\.\d+$/);
    expect((cfg.metadata as Record<string, string>).hook_name).toBe('blocks.3.hook_resid_pre');
  });

  it('round-trips weights, and writes log10 firing frequency to sparsity.safetensors', () => {
    const cfg = buildSaeLensCfg({ architecture: 'jumprelu', d_in: dIn, d_sae: dSae });
    const files = buildSaeLensExport({ tensors, cfg, firingFraction: new Float32Array([1, 0.1, 0, 0.001]) });
    const back = readSaeLensExport({ 'cfg.json': ab(files['cfg.json']), 'sae_weights.safetensors': ab(files['sae_weights.safetensors']) });
    expect(back.cfg.architecture).toBe('jumprelu');
    for (const [name, t] of Object.entries(tensors)) {
      expect(back.tensors[name].shape).toEqual(t.shape);
      expect(Array.from(back.tensors[name].data)).toEqual(Array.from(t.data));
    }
    const sparsity = readSafetensors(ab(files['sparsity.safetensors'])).tensors.sparsity;
    expect(sparsity.shape).toEqual([4]);
    expect(sparsity.data[0]).toBeCloseTo(0, 6);
    expect(sparsity.data[1]).toBeCloseTo(-1, 6);
    expect(sparsity.data[2]).toBeCloseTo(-10, 6);
    expect(sparsity.data[3]).toBeCloseTo(-3, 5);
  });

  it('refuses tensors whose shapes contradict d_in / d_sae', () => {
    const cfg = buildSaeLensCfg({ architecture: 'standard', d_in: dIn, d_sae: dSae });
    const bad = { ...tensors, W_enc: { shape: [dSae, dIn], data: tensors.W_enc.data } };
    expect(() => buildSaeLensExport({ tensors: bad, cfg })).toThrow(/W_enc has shape \[4, 3\] but d_in 3, d_sae 4 need \[3, 4\]\.$/);
  });
});

describe('training log CSV', () => {
  it('puts step, total_loss, recon_loss, sparsity_loss, sparsity_l0 first and round-trips values', () => {
    const row = (step: number): MetricRow => ({
      step, total_loss: 2.5, recon_loss: 2, sparsity_loss: 0.5, sparsity_l0: 0.05, aux_loss: 0, l0: 3.2, nmse: 0.1, fve: 0.9,
      dead_fraction: 0, dense_fraction: 0, guidance_loss: 0, lr: 1e-3, lambda: 0.1, lambda_effective: 0.1, target_l0: 0.05, k: 0, bandwidth: 0.05, threshold: 0.05, threshold_mean: 0.06, tokens_per_s: 1000, elapsed_s: step / 10,
    });
    const csv = metricRowsToCsv([row(10), { ...row(20), total_loss: NaN }]);
    expect(csv.split('\n')[0]).toBe('step,total_loss,recon_loss,sparsity_loss,sparsity_l0,aux_loss,l0,nmse,fve,dead_fraction,dense_fraction,guidance_loss,lr,lambda,lambda_effective,target_l0,k,bandwidth,threshold,threshold_mean,tokens_per_s,elapsed_s');
    const parsed = parseCsvLog(csv);
    expect(parsed.step).toEqual([10, 20]);
    expect(parsed.lr).toEqual([0.001, 0.001]);
    expect(parsed.total_loss[0]).toBe(2.5);
    expect(Number.isNaN(parsed.total_loss[1])).toBe(true);
  });
});
