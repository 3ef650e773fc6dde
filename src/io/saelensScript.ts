// A Python script (train_with_saelens.py) that reproduces a workbench run at scale with SAELens's
// own training runner (v6 API: LanguageModelSAERunnerConfig + LanguageModelSAETrainingRunner) on a
// GPU machine: the same architecture, sizes, sparsity, optimiser and schedule, with the model, hook
// and dataset left for the user to fill in. Field names follow SAELens 6.18's source:
// sae_lens/config.py (LanguageModelSAERunnerConfig, LoggingConfig) and sae_lens/saes/*.py (the
// *TrainingSAEConfig classes); src/io/saelensScript.test.ts keeps the verified list.
import { layersUsed, MULTI_LAYER, type SaeConfig } from '../engine/config';

export interface SaeLensScriptInput {
  config: SaeConfig;
  /** Width of one activation vector (one layer). */
  dIn: number;
  /** The activation file the run trained on. */
  datasetName: string;
  hookName?: string;
  modelName?: string;
}

/** The oldest SAELens with every class and field the scripts use (MatryoshkaBatchTopKTrainingSAEConfig: 6.15.0). */
export const SAELENS_MIN_VERSION = '6.15.0';

type Py = string | number | boolean | number[];

interface Mapping {
  /** SAELens training config class. */
  cls: string;
  /** Its keyword arguments beyond d_in / d_sae / normalize_activations (values as Python literals). */
  fields: [string, Py, string?][];
  /** Set when the workbench architecture is not one SAELens has: why this class is the closest. */
  substitute?: string;
  /** Further notes for the header. */
  notes: string[];
}

function py(v: Py): string {
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} as a Python number`);
    return String(v);
  }
  if (Array.isArray(v)) return `[${v.map((x) => py(x)).join(', ')}]`;
  return JSON.stringify(v);
}

/** Text safe inside a one-line Python comment. */
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ');

function mapping(c: SaeConfig, dIn: number): Mapping {
  const notes: string[] = [];
  const lambdaNote = c.sparsity_mode === 'target_l0'
    ? `λ is the value the workbench run used last (sparsity_mode target_l0: a controller steered it towards L0 = ${c.target_l0} · d_sae); SAELens keeps it fixed, so check L0 in its logs and adjust.`
    : undefined;
  // Our TopK family keeps decoder rows at unit norm after every step; SAELens's equivalent is to
  // rank and scale activations as if the decoder were normalised (rescale_acts_by_decoder_norm).
  const kFields = (k: number, auxCoef: number): [string, Py, string?][] => [
    ['k', k],
    ['aux_loss_coefficient', auxCoef, 'workbench aux_k_coefficient (SAELens fixes k_aux = d_in / 2)'],
    ['rescale_acts_by_decoder_norm', true, 'the workbench keeps decoder rows at unit norm'],
  ];
  switch (c.architecture) {
    case 'relu':
      if (lambdaNote) notes.push(lambdaNote);
      return { cls: 'StandardTrainingSAEConfig', notes, fields: [
        ['l1_coefficient', c.l1_coefficient, 'λ of λ·Σ f_i·‖W_dec,i‖'],
        ['lp_norm', 1.0],
        ['l1_warm_up_steps', c.lambda_warmup_steps],
      ] };
    case 'topk':
      return { cls: 'TopKTrainingSAEConfig', notes, fields: kFields(c.k, c.aux_k_coefficient) };
    case 'batchtopk':
      notes.push('SAELens saves a BatchTopK SAE as "jumprelu" with the learned global threshold, as the workbench does.');
      return { cls: 'BatchTopKTrainingSAEConfig', notes, fields: [
        ...kFields(c.k, c.aux_k_coefficient),
        ['topk_threshold_lr', c.threshold_lr, 'workbench threshold_lr'],
      ] };
    case 'matryoshka':
      notes.push('SAELens sums the nested prefixes\' reconstruction losses where the workbench averages them, so its loss is larger by about the number of prefixes.');
      return { cls: 'MatryoshkaBatchTopKTrainingSAEConfig', notes, fields: [
        ...kFields(c.k, c.aux_k_coefficient),
        ['topk_threshold_lr', c.threshold_lr, 'workbench threshold_lr'],
        ['matryoshka_widths', c.matryoshka_prefixes, 'workbench matryoshka_prefixes (ascending, last = d_sae)'],
      ] };
    case 'jumprelu':
      if (lambdaNote) notes.push(lambdaNote);
      notes.push('SAELens trains log θ; the workbench trains θ itself. With a small jumprelu_init_threshold, log θ moves slowly (about lr per step), so start it near the scale of your activations if thresholds stay frozen.');
      return { cls: 'JumpReLUTrainingSAEConfig', notes, fields: [
        ['l0_coefficient', c.l0_coefficient, 'λ of λ·L0'],
        ['l0_warm_up_steps', c.lambda_warmup_steps],
        ['jumprelu_bandwidth', c.bandwidth],
        ['jumprelu_init_threshold', c.init_threshold],
      ] };
    case 'gated':
      if (lambdaNote) notes.push(lambdaNote);
      return { cls: 'GatedTrainingSAEConfig', notes, fields: [
        ['l1_coefficient', c.l1_coefficient, 'λ of the L1 penalty on ReLU(π_gate)'],
        ['l1_warm_up_steps', c.lambda_warmup_steps],
      ] };
    case 'randomk':
      return { cls: 'TopKTrainingSAEConfig', notes, fields: kFields(c.k, 1 / 32),
        substitute: 'RandomK (k random latents per row) is a baseline; the closest SAELens training is TopK with the same k, which learns which latents to use.' };
    case 'classic':
      return { cls: 'StandardTrainingSAEConfig', notes, fields: [
        ['l1_coefficient', c.sparsity_coefficient, 'workbench sparsity_coefficient; the scales differ, tune it'],
        ['lp_norm', 1.0],
        ['l1_warm_up_steps', c.lambda_warmup_steps],
      ], substitute: `the classic SAE (2-layer encoder and decoder, hidden_dim ${c.hidden_dim}, ${c.sparsity_type} sparsity${c.tied_weights ? ', tied weights' : ''}) has no SAELens counterpart; the closest is the standard one-layer ReLU SAE with an L1 penalty. The workbench penalty (${c.sparsity_type === 'l1' ? 'mean |z|' : c.sparsity_type === 'kl' ? `KL to ρ = ${c.kl_target}` : 'Hoyer'}) is not SAELens's Σ f_i·‖W_dec,i‖, so λ does not carry over.` };
    case 'mlsae':
      return { cls: 'TopKTrainingSAEConfig', notes, fields: kFields(c.k, c.aux_k_coefficient),
        substitute: `the MLSAE shares one TopK SAE across layers ${c.layer_start}..${c.layer_end} (each layer's vector a separate row); SAELens trains on one hook, so this is a TopK SAE on one layer (HOOK_NAME). Run it once per layer, or on the middle layer.` };
    case 'crosscoder':
      if (lambdaNote) notes.push(lambdaNote);
      return { cls: 'StandardTrainingSAEConfig', notes, fields: [
        ['l1_coefficient', c.l1_coefficient],
        ['lp_norm', 1.0],
        ['l1_warm_up_steps', c.lambda_warmup_steps],
      ], substitute: `the crosscoder reads ${layersUsed(c)} layers (${c.layer_start}..${c.layer_end}) with one encoder and decoder per layer; SAELens trains on one hook, so this is the closest single-layer equivalent: a standard ReLU SAE with an L1 penalty on one layer (HOOK_NAME).` };
    case 'routesae':
      return { cls: 'TopKTrainingSAEConfig', notes, fields: kFields(c.k, c.aux_k_coefficient),
        substitute: `RouteSAE routes each token to one of layers ${c.layer_start}..${c.layer_end} (${c.routing} routing on the ${c.aggregation} of the layers) before a shared TopK SAE; SAELens trains on one hook, so this is the TopK SAE on one layer (HOOK_NAME).` };
  }
  // Exhaustiveness: a new architecture must be mapped above.
  const never: never = c;
  throw new Error(`no SAELens mapping for ${(never as SaeConfig).architecture} (d_in ${dIn})`);
}

const NORMALIZE: Record<SaeConfig['normalize'], string> = {
  none: 'none',
  per_token: 'layer_norm',
  dataset_norm: 'expected_average_only_in',
};

/** Wrap `text` into comment lines of at most ~100 characters. */
function comment(text: string, indent = '# '): string[] {
  const words = oneLine(text).split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > 98) { lines.push(indent + line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(indent + line);
  return lines;
}

export function saelensTrainingScript(input: SaeLensScriptInput): string {
  const c = input.config;
  const m = mapping(c, input.dIn);
  const multi = MULTI_LAYER.includes(c.architecture);
  // The workbench only sees saved activations: unless told, model and hook are placeholders that
  // fit together (gpt2's middle layer), and D_IN, the run's width, says what they must produce.
  const hook = input.hookName ?? 'blocks.6.hook_resid_pre';
  const model = input.modelName ?? 'gpt2';
  const fileLayers = multi ? `layers ${c.layer_start}..${c.layer_end} of the activation file` : `layer ${c.layer} of the activation file`;
  const deadWindowSteps = Math.max(1, Math.ceil(c.dead_tokens_window / c.batch_size));
  const nCheckpoints = c.checkpoint_every > 0 ? Math.floor(c.steps / c.checkpoint_every) : 0;

  const notes = [...m.notes];
  if (c.grad_clip_norm !== 1) notes.push(`the workbench clipped the gradient norm at ${c.grad_clip_norm}; SAELens always clips at 1.0.`);
  if (c.resample_dead_every > 0) notes.push('SAELens v6 does not resample dead latents (resample_dead_every is ignored).');
  if (c.guidance.length) notes.push(`the ${c.guidance.length} guidance target(s) of the workbench run have no SAELens counterpart and are left out.`);
  if (c.early_stopping_patience > 0) notes.push('SAELens has no early stopping; it trains for training_tokens.');
  if (c.threshold > 0) notes.push(`the workbench inference threshold ${c.threshold} is not part of a SAELens training.`);

  const header: string[] = [
    '#!/usr/bin/env python3',
    '# Reproduce an SAE Workbench run at scale with SAELens (v6 training API) on a GPU machine.',
    `# Generated by SAE Workbench from the run config below (architecture "${c.architecture}", d_in ${input.dIn},`,
    `# d_sae ${c.d_sae}, ${c.steps} steps of ${c.batch_size} tokens), trained on ${oneLine(input.datasetName)}.`,
    '#',
  ];
  if (m.substitute) {
    header.push(`# NOTE: the workbench architecture "${c.architecture}" is our own and not in SAELens. This script`);
    header.push(`# trains the closest SAELens architecture instead: ${m.cls}. Why:`);
    header.push(...comment(m.substitute, '#   '));
    header.push('#');
  }
  header.push(
    `# Needs: pip install "sae-lens>=${SAELENS_MIN_VERSION},<7"  (pulls in torch, transformer_lens, datasets).`,
    '# Edit MODEL_NAME, HOOK_NAME and DATASET_PATH below (and D_IN if the hook\'s width differs), then run',
    '#   python train_with_saelens.py',
    '# SAELens streams the dataset through the model, trains, and writes OUTPUT_PATH/ with cfg.json,',
    '# sae_weights.safetensors and sparsity.safetensors: the same format the workbench exports and loads.',
  );
  if (notes.length) {
    header.push('#', '# Differences from the workbench run:');
    for (const n of notes) header.push(...comment(`- ${n}`, '#   ').map((l, i) => (i === 0 ? l : l.replace(/^# {3}/, '#     '))));
  }
  header.push('#', '# Workbench run config (run_config.json):');
  header.push(...comment(JSON.stringify(c).replace(/,"/g, ', "'), '#   '));

  const saeArgs: string[] = [
    '        d_in=D_IN,',
    `        d_sae=D_SAE,`,
    ...m.fields.map(([k, v, why]) => `        ${k}=${py(v)},${why ? `  # ${oneLine(why)}` : ''}`),
    `        normalize_activations=${py(NORMALIZE[c.normalize])},  # workbench normalize: ${c.normalize}`,
    '        apply_b_dec_to_input=True,',
    '        dtype="float32",',
  ];

  const body: string[] = [
    '',
    'import torch',
    '',
    `from sae_lens import LanguageModelSAERunnerConfig, LanguageModelSAETrainingRunner, LoggingConfig, ${m.cls}`,
    '',
    '# ---- edit these ---------------------------------------------------------------------------',
    `MODEL_NAME = ${py(model)}  # TransformerLens model name; workbench: ${input.modelName ? oneLine(input.modelName) : 'model not recorded'}`,
    `HOOK_NAME = ${py(hook)}  # workbench: ${input.hookName ? oneLine(input.hookName) : `hook not recorded; the run used ${fileLayers}`}`,
    `DATASET_PATH = "NeelNanda/pile-10k"  # a Hugging Face text dataset; workbench: activation file ${py(oneLine(input.datasetName))}`,
    'IS_DATASET_TOKENIZED = False  # True for a pre-tokenised dataset (a `tokens` / `input_ids` column)',
    'CONTEXT_SIZE = 128  # tokens per prompt (scripts/dump_activations.py --ctx)',
    'EXCLUDE_SPECIAL_TOKENS = True  # leave BOS/EOS rows out, as dump_activations.py drops BOS rows by default',
    `D_IN = ${input.dIn}  # the workbench run's d_in; must equal the width of HOOK_NAME's activations${input.modelName ? '' : ' (gpt2: 768)'}`,
    `D_SAE = ${c.d_sae}  # dictionary size (workbench d_sae; ${(c.d_sae / input.dIn).toFixed(2).replace(/\.?0+$/, '')} × d_in)`,
    'DEVICE = "cuda" if torch.cuda.is_available() else "cpu"',
    'LOG_TO_WANDB = False',
    'OUTPUT_PATH = "saelens_output"',
    '# ---------------------------------------------------------------------------------------------',
    '',
    `TRAINING_STEPS = ${c.steps}  # workbench steps`,
    `BATCH_SIZE_TOKENS = ${c.batch_size}  # workbench batch_size (rows = tokens)`,
    '',
    'cfg = LanguageModelSAERunnerConfig(',
    `    sae=${m.cls}(`,
    ...saeArgs,
    '    ),',
    '    model_name=MODEL_NAME,',
    '    hook_name=HOOK_NAME,',
    '    dataset_path=DATASET_PATH,',
    '    is_dataset_tokenized=IS_DATASET_TOKENIZED,',
    '    streaming=True,',
    '    context_size=CONTEXT_SIZE,',
    '    prepend_bos=True,',
    '    exclude_special_tokens=EXCLUDE_SPECIAL_TOKENS,',
    `    training_tokens=TRAINING_STEPS * BATCH_SIZE_TOKENS,  # ${c.steps * c.batch_size} tokens`,
    '    train_batch_size_tokens=BATCH_SIZE_TOKENS,',
    `    lr=${py(c.lr)},`,
    `    adam_beta1=${py(c.adam_beta1)},`,
    `    adam_beta2=${py(c.adam_beta2)},`,
    '    lr_scheduler_name="constant",  # with linear warm-up from 0 and linear decay to 0, as in the workbench',
    `    lr_warm_up_steps=${c.lr_warmup_steps},`,
    `    lr_decay_steps=${c.lr_decay_steps},`,
    `    dead_feature_window=${deadWindowSteps},  # steps: workbench dead_tokens_window ${c.dead_tokens_window} tokens / batch ${c.batch_size}`,
    `    seed=${c.seed},`,
    '    device=DEVICE,',
    '    dtype="float32",',
    `    n_checkpoints=${nCheckpoints},${c.checkpoint_every > 0 ? `  # workbench checkpoint_every ${c.checkpoint_every}` : ''}`,
    '    output_path=OUTPUT_PATH,',
    '    logger=LoggingConfig(log_to_wandb=LOG_TO_WANDB, wandb_project="sae_workbench"),',
    ')',
    '',
    'if __name__ == "__main__":',
    '    sae = LanguageModelSAETrainingRunner(cfg).run()',
    '    print(f"saved the trained SAE to {OUTPUT_PATH}/ (cfg.json, sae_weights.safetensors, sparsity.safetensors)")',
    '',
  ];
  return [...header, ...body].join('\n');
}
