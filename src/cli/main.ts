// `npx sae-workbench train|eval|activations ...`: the same engine as the app, on files, for scripts.
// This file holds the usage and the dispatch; each command lives in its own file.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { datasetFiles } from '../data/languageModel';
import { evaluate } from './evaluate';
import { parseFlags, sitesFlag, UsageError, type Flags } from './flags';
import { checkOptionsAndBackend, checkOutDir, extractToWorkspace, loadLanguageModel, startBackend } from './inputs';
import { train } from './train';

export const USAGE = `Usage:
  sae-workbench train --data FILE --config CFG.json --out DIR [--steps N] [--seed S] [--backend B]
                     [--tokens F --vocab F --doc-ids F --positions F] [--labels F[,F…]]
                     [--select ARRAY] [--shape N,d | L,N,d] [--dtype float32|float16]
                     [--memory-budget SIZE] [--init-from DIR] [--exclude-nonfinite] [--force]
      Train an SAE on activations: .npy (float32/16/64, [N, d] or [L, N, d]), .npz, .safetensors
      (F32/F16/BF16) or raw .f32/.bin (give --shape). --select picks the array of an .npz or
      .safetensors holding several. Companions (--tokens, --vocab, --doc-ids, --positions, --labels)
      are matched by row count; --data may also list several files, comma-separated, recognised by
      content. Files over --memory-budget (default 1GiB; e.g. 512MiB, 4GiB) are streamed from disk
      with a shuffle buffer. --init-from continues training an exported SAE directory (or its
      .zip). An activation file with rows holding NaN or Inf is refused with their count;
      --exclude-nonfinite loads it without those rows (companions of the file's full length are
      filtered to match).
      Writes DIR/sae_weights.safetensors, DIR/cfg.json, DIR/sparsity.safetensors (SAELens format),
      DIR/log.csv, DIR/run_config.json, DIR/train_with_saelens.py, DIR/metrics.json and, with
      checkpoint_every, DIR/checkpoints/step_N/. CFG.json is the app's config JSON (see README).
      DIR must be new or empty; --force writes over the files of a folder that is not.
      A run that diverges (NaN or exploding loss) is rolled back to its last healthy logged step,
      whose weights are written to DIR, and the command fails naming a learning rate to try.
      Ctrl-C stops after the current step and writes what was trained.
  sae-workbench train --lm MODEL --text FILE.txt (--layer L[,L…] | --hook NAME[,NAME…]) --config CFG.json --out DIR
                     [--tokenizer TOK.bin] [--splice-every N] […]
      Train on the activations of a language model run over the text (instead of --data). MODEL is
      a Hugging Face model folder (config.json, model.safetensors or its shards, tokenizer.json;
      GPT-2, GPT-NeoX/Pythia, Llama/Qwen2/Mistral) or a llama2.c .bin with --tokenizer. --layer L
      records the layers' resid_pre (L = n_layers: after the last block); --hook takes TransformerLens
      names (blocks.L.hook_resid_pre | hook_attn_out | hook_resid_mid | hook_mlp_out | hook_resid_post).
      Each document starts with BOS, whose positions are dropped; tokens, positions and document ids
      come with the rows. The export's cfg.json records the model and hook. --splice-every N
      splices the SAE into the model every N steps and prints loss recovered on 4,096 held-out tokens.
  sae-workbench eval --sae DIR --data FILE [--select ARRAY] [--shape …] [--memory-budget SIZE] [--exclude-nonfinite] [--backend B]
      Evaluate an exported SAE directory (SAELens format) on FILE (every row; the validation
      split of a streamed file); prints the reconstruction metrics (nmse, fve, nmse_per_token,
      l0, l0_fraction, dead_fraction, backend) as JSON.
  sae-workbench eval --sae DIR --lm MODEL --text FILE.txt [--tokenizer TOK.bin] [--layer L | --hook NAME] [--data FILE] [--backend B]
      Splice the SAE's reconstruction into the model at layer L or hook NAME (default: the
      hook_name in cfg.json) at every non-BOS position of every document of the text: prints clean,
      spliced, zero- and mean-ablation CE, KL(clean ‖ spliced) and loss recovered as JSON, with the
      reconstruction metrics on the text's activations (or on --data). Mean ablation uses the mean
      of those activations.
  sae-workbench activations --lm MODEL --text FILE.txt (--layer L[,L…] | --hook NAME[,NAME…]) --out DIR [--tokenizer TOK.bin] [--include-bos yes|no] [--force]
      Write the text's activations as DIR/activations.npy ([N, d], or [L, N, d] for several layers)
      with tokens.npy, positions.npy, doc_ids.npy (int32) and vocab.json. DIR must be new or
      empty; --force writes over the files of a folder that is not.
  sae-workbench help | --help | -h
      Show this message.
  sae-workbench --version | -v
      Print the version.
  Every command takes --backend B and --threads N:
      wasm (default; cpu when wasm cannot start) runs on the CPU with N threads (default every
      core; 1 runs the one-thread build). webgpu runs on the GPU through Dawn and the machine's
      Vulkan driver (NVIDIA's on a GPU server; Mesa's lavapipe on a CPU, for checks only); the
      adapter is printed, and a machine without one is told what to install. auto times a
      training step of the SAE (or, for activations, the model's forward) on each and keeps the
      fastest, printing the times.
  Options and the config are checked before any file is loaded.`;


/** The package's version, from package.json. */
async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function activations(flags: Flags): Promise<number> {
  await checkOptionsAndBackend(flags);
  await checkOutDir(flags);
  const sites = sitesFlag(flags);
  if (!sites) throw new UsageError('--layer or --hook is needed: the residual layer(s) or hooks to record');
  const { workspace, text } = await loadLanguageModel(flags);
  await startBackend(flags, { kind: 'forward', weights: workspace.lm!.checkpoint.weights });
  await extractToWorkspace(workspace, text, sites, flags['include-bos'] === 'yes');
  await mkdir(flags.out, { recursive: true });
  const files = datasetFiles(workspace);
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(flags.out, name), bytes);
  process.stdout.write(JSON.stringify({ out: flags.out, files: Object.keys(files), rows: workspace.dataset!.rows, layers: sites }) + '\n');
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    // `train --help` asks for help, not for a training run with an unknown option.
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    switch (command) {
      case 'train':
        return await train(parseFlags(command, rest, ['config', 'out']));
      case 'eval':
        return await evaluate(parseFlags(command, rest, ['sae']));
      case 'activations':
        return await activations(parseFlags(command, rest, ['lm', 'text', 'out']));
      case 'help': case '--help': case '-h':
        process.stdout.write(USAGE + '\n');
        return 0;
      case '--version': case '-v':
        process.stdout.write(`${await packageVersion()}\n`);
        return 0;
      default:
        throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
