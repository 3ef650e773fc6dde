// A Python script that reproduces a run at scale with SAELens's training runner (v6 API:
// LanguageModelSAERunnerConfig with a nested training-SAE config, LanguageModelSAETrainingRunner),
// for when the data outgrows the browser. Field names are those of SAELens's sae_lens/config.py and
// sae_lens/saes/*_sae.py; architectures SAELens lacks get the closest one SAELens has, said at the top.
import type { SaeConfig } from '../engine/config';

/** Our architecture → SAELens training-config class, and what is lost on the way. */
const CLASSES: Record<SaeConfig['architecture'], { cls: string; caveat?: string }> = {
  relu: { cls: 'StandardTrainingSAEConfig' },
  topk: { cls: 'TopKTrainingSAEConfig' },
  batchtopk: { cls: 'BatchTopKTrainingSAEConfig' },
  jumprelu: { cls: 'JumpReLUTrainingSAEConfig' },
  gated: { cls: 'GatedTrainingSAEConfig' },
  matryoshka: { cls: 'BatchTopKTrainingSAEConfig', caveat: 'Matryoshka BatchTopK: trained here as plain BatchTopK (no nested prefixes). Recent SAELens versions have MatryoshkaBatchTopKTrainingSAEConfig; use it with matryoshka_widths = the prefixes below if yours does.' },
  randomk: { cls: 'TopKTrainingSAEConfig', caveat: 'RandomK is a workbench baseline that SAELens does not have: trained here as TopK with the same k.' },
  classic: { cls: 'StandardTrainingSAEConfig', caveat: 'The classic (KL / Hoyer, hidden layer) autoencoder is not in SAELens: trained here as a standard ReLU SAE with an L1 penalty.' },
  mlsae: { cls: 'TopKTrainingSAEConfig', caveat: 'MLSAE (one SAE shared by several layers) is not in SAELens: trained here as TopK on one hook; run the script once per layer hook, or train on activations of all layers mixed.' },
  crosscoder: { cls: 'StandardTrainingSAEConfig', caveat: 'The crosscoder is not in SAELens: trained here as a standard SAE on one hook.' },
  routesae: { cls: 'TopKTrainingSAEConfig', caveat: 'RouteSAE (a router over layers) is not in SAELens: trained here as TopK on one hook.' },
};

const py = (v: unknown): string => {
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  return JSON.stringify(v);
};

export interface SaeLensScriptInput {
  config: SaeConfig;
  dIn: number;
  datasetName: string;
  modelName?: string;
  hookName?: string;
}

/** The fields of the SAELens training-SAE config for this run (name → value). */
export function saeConfigFields(c: SaeConfig, dIn: number): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    d_in: dIn,
    d_sae: c.d_sae,
    apply_b_dec_to_input: true,
    normalize_activations: c.normalize === 'per_token' ? 'layer_norm' : c.normalize === 'dataset_norm' ? 'expected_average_only_in' : 'none',
  };
  switch (c.architecture) {
    case 'relu': case 'gated': case 'crosscoder':
      fields.l1_coefficient = c.l1_coefficient;
      fields.l1_warm_up_steps = c.lambda_warmup_steps;
      break;
    case 'classic':
      fields.l1_coefficient = c.sparsity_coefficient;
      break;
    case 'jumprelu':
      fields.jumprelu_init_threshold = c.init_threshold;
      fields.jumprelu_bandwidth = c.bandwidth;
      fields.l0_coefficient = c.l0_coefficient;
      fields.l0_warm_up_steps = c.lambda_warmup_steps;
      break;
    default:
      fields.k = (c as { k: number }).k;
  }
  return fields;
}

export function saelensTrainingScript(input: SaeLensScriptInput): string {
  const c = input.config;
  const { cls, caveat } = CLASSES[c.architecture];
  const fields = saeConfigFields(c, input.dIn);
  const tokens = c.steps * c.batch_size;
  const lines = [
    '"""Reproduce a SAE Workbench run at scale with SAELens (v6) on a GPU machine.',
    '',
    `Written by SAE Workbench for a ${c.architecture} run (d_in ${input.dIn}, d_sae ${c.d_sae}, ${c.steps} steps of`,
    `${c.batch_size} tokens) trained on ${input.datasetName}. The settings below are that run's, with the`,
    'live values it ended with (λ, k, learning rate). Edit MODEL_NAME, HOOK_NAME and DATASET_PATH: the',
    'workbench trains on saved activations and does not know which model or hook made them.',
    '',
    'Run:  pip install sae-lens   then   python train_with_saelens.py',
    '"""',
    ...(caveat ? ['', `# NOTE: ${caveat}`] : []),
    ...(c.sparsity_mode === 'target_l0' ? [`# NOTE: the workbench held L0 at ${(c.target_l0 * 100).toFixed(2)}% of d_sae by adjusting ${c.architecture === 'jumprelu' ? 'the L0 coefficient' : ['relu', 'gated', 'classic', 'crosscoder'].includes(c.architecture) ? 'the L1 coefficient' : 'k'} as it trained; the value it ended with is used here. SAELens scales its sparsity loss differently (e.g. by decoder norms), so sweep the coefficient around this value if the L0 differs.`] : []),
    '',
    'import torch',
    'from sae_lens import LanguageModelSAERunnerConfig, LanguageModelSAETrainingRunner, LoggingConfig',
    `from sae_lens import ${cls}`,
    '',
    `MODEL_NAME = ${py(input.modelName ?? 'tiny-stories-1M')}  # the TransformerLens model whose activations you trained on`,
    `HOOK_NAME = ${py(input.hookName ?? 'blocks.3.hook_resid_pre')}  # the hook of those activations (resid_pre of a layer, …)`,
    `DATASET_PATH = ${py('roneneldan/TinyStories')}  # a Hugging Face text dataset`,
    `CONTEXT_SIZE = 128`,
    '',
    `sae_cfg = ${cls}(`,
    ...Object.entries(fields).map(([k, v]) => `    ${k}=${py(v)},`),
    ')',
    '',
    'cfg = LanguageModelSAERunnerConfig(',
    '    sae=sae_cfg,',
    '    model_name=MODEL_NAME,',
    '    hook_name=HOOK_NAME,',
    '    dataset_path=DATASET_PATH,',
    '    streaming=True,',
    '    context_size=CONTEXT_SIZE,',
    `    training_tokens=${tokens},  # ${c.steps} steps × ${c.batch_size}; raise it for a run at scale`,
    `    train_batch_size_tokens=${c.batch_size},`,
    `    lr=${py(c.lr)},`,
    `    lr_warm_up_steps=${c.lr_warmup_steps},`,
    `    lr_decay_steps=${c.lr_decay_steps},`,
    `    adam_beta1=${py(c.adam_beta1)},`,
    `    adam_beta2=${py(c.adam_beta2)},`,
    `    dead_feature_window=${Math.max(1, Math.round(c.dead_tokens_window / c.batch_size))},  # steps (the workbench counts ${c.dead_tokens_window} tokens)`,
    `    seed=${c.seed},`,
    '    device="cuda" if torch.cuda.is_available() else "cpu",',
    '    dtype="float32",',
    '    logger=LoggingConfig(log_to_wandb=False),',
    ')',
    '',
    'if __name__ == "__main__":',
    '    sae = LanguageModelSAETrainingRunner(cfg).run()',
    '    sae.save_model("sae_from_saelens")  # sae_weights.safetensors + cfg.json, loadable by the workbench',
    '',
  ];
  return lines.join('\n');
}
