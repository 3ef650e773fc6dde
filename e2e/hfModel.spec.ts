// Hugging Face model folders in the browser: drop the tiny random GPT-2 (fixtures/hf/tiny-gpt2) with
// a SAELens-layout SAE for it (fixtures/hf/tiny-gpt2-sae, blocks.1.hook_resid_pre) and a text; the
// page reads the model, tokenizer and the SAE's hook, extracts that hook's activations, splices the
// imported SAE back in for loss recovered, and browses / exports its features. A sharded folder with
// a shard missing says which one, and the page keeps working (its tokenizer.json is not taken
// either). The imported SAE is spliced on the validation documents the Data panel's split holds out.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { dropFiles, openApp } from './helpers';

const HF = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/hf');
/** A file of a fixture folder, named as a folder drop names it (`tiny-gpt2/config.json`). */
const hfFile = (dir: string, name: string) => ({ name: `${dir}/${name}`, bytes: readFileSync(path.join(HF, dir, name)) });

const GPT2 = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'].map((f) => hfFile('tiny-gpt2', f));
const SAE = ['cfg.json', 'sae_weights.safetensors'].map((f) => hfFile('tiny-gpt2-sae', f));

/** ~60 short English lines (one document each), deterministic. */
function storyText(): Uint8Array {
  const who = ['The cat', 'A small dog', 'The old man', 'My sister', 'The little bird', 'A tired farmer'];
  const did = ['walked to the river', 'found a red ball', 'sang a quiet song', 'looked at the sky', 'ate some warm bread', 'opened the green door'];
  const when = ['in the morning.', 'after the rain.', 'before dinner.', 'on a sunny day.', 'with a friend.'];
  const lines = Array.from({ length: 60 }, (_, i) => `${who[i % who.length]} ${did[(i * 5 + 1) % did.length]} ${when[(i * 7 + 2) % when.length]}`);
  return new TextEncoder().encode(lines.join('\n') + '\n');
}
const STORY = { name: 'story.txt', bytes: storyText() };

/** The app with tiny-gpt2 and story.txt (and whatever else) dropped as one drop; the Language model panel. */
async function openWithGpt2(page: Page, extra: { name: string; bytes: Uint8Array }[] = []) {
  await openApp(page);
  await dropFiles(page, [...GPT2, ...extra, STORY]);
  const panel = page.getByTestId('lm-panel');
  await expect(panel.getByTestId('lm-model')).toContainText('tiny-gpt2 (Hugging Face gpt2, F32)');
  await expect(panel.getByRole('list', { name: 'Texts' })).toContainText('60 documents · 1,712 tokens');
  return panel;
}

const numberIn = (text: string | null) => Number((text ?? '').replace(/[^\d.−-]/g, '').replace('−', '-'));

test('a Hugging Face GPT-2 folder + SAELens SAE: extract at the SAE hook, splice it in, browse and export its features', async ({ page }) => {
  test.setTimeout(90_000);
  const panel = await openWithGpt2(page, SAE);
  await expect(panel.getByTestId('lm-model')).toContainText('tiny-gpt2 (Hugging Face gpt2, F32): 38,944 parameters, d_model 32, 2 layers, 4 heads (4 kv), vocab 357, context 64');
  await expect(panel).toContainText('tiny-gpt2/tokenizer.json: 357 pieces');
  // The SAE's cfg.json fits the model: its hook is chosen for extraction, no alert anywhere.
  const match = panel.getByTestId('lm-sae-match');
  await expect(match).toContainText('The imported SAE reads blocks.1.hook_resid_pre of tiny-gpt2: chosen below for extraction and splicing.');
  await expect(match).not.toHaveAttribute('role', 'alert');
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(panel.getByRole('radio', { name: 'resid_pre' })).toBeChecked();
  await expect(panel.getByTestId('lm-hooks')).toContainText('Records blocks.1.hook_resid_pre.');
  const imp = page.getByTestId('import-panel');
  await expect(imp.getByTestId('import-size')).toHaveText('d_in 32 → d_sae 64');
  await expect(imp).toContainText('from cfg.json');

  await panel.getByRole('button', { name: 'Extract activations from story.txt' }).click();
  // 1,712 tokens in 60 documents, each starting with BOS, whose rows are dropped.
  await expect(page.getByTestId('dataset-shape')).toHaveText('1,652 × 32', { timeout: 60_000 });
  await expect(page.getByTestId('dataset-info').locator('.dataset-name')).toHaveText('story.txt @ blocks.1.hook_resid_pre');
  await expect(panel.getByRole('list', { name: 'Texts' })).toContainText('the loaded activations');

  // Splice the imported SAE in on the whole of story.txt (it was not trained on it).
  await panel.getByLabel('Evaluate on').selectOption('story.txt');
  await imp.getByRole('button', { name: 'Evaluate with the language model' }).click();
  const result = imp.getByTestId('import-splice');
  await expect(result).toBeVisible({ timeout: 60_000 });
  await expect(imp.getByRole('alert')).toHaveCount(0);
  await expect(result.getByTestId('splice-hook')).toHaveText('blocks.1.hook_resid_pre');
  await expect(result).toContainText('of story.txt (60 documents, 1,712 tokens)');
  // A prediction from every kept (non-BOS) position that has a next token: 1,652 − 60.
  await expect(result.getByTestId('splice-predictions')).toHaveText('1,592 predictions');
  await expect(result.getByTestId('splice-few')).toContainText('loss recovered is noisy');
  await expect(result.getByTestId('loss-recovered-se')).toHaveText(/^± \d+(\.\d+)?$/);
  // Loss recovered is (CE_zero − CE_sae) / (CE_zero − CE_clean) of the figures shown beside it
  // (a random SAE on a random model: any sign, but consistent).
  const recovered = numberIn(await result.getByTestId('loss-recovered').textContent());
  const cells = result.getByRole('row').nth(1).getByRole('cell');
  const ceSae = numberIn(await cells.nth(3).textContent());
  const ceZero = numberIn((await cells.nth(4).textContent())!.split('/')[0]);
  const ceClean = numberIn(/Clean CE (\S+)/.exec((await result.textContent()) ?? '')![1]);
  expect(Number.isFinite(recovered)).toBe(true);
  expect(Math.abs(recovered - (ceZero - ceSae) / (ceZero - ceClean))).toBeLessThan(0.02 * Math.max(1, Math.abs(recovered)));

  // The feature browser reads a run: the imported SAE opens as one without a step of training, so
  // the features are the SAE's as published.
  await imp.getByRole('button', { name: 'Open without training' }).click();
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText('started relu: d_sae 64');
  await expect(page.getByTestId('progress')).toContainText('the imported SAE, opened without training', { timeout: 60_000 });
  const features = page.getByTestId('features-panel');
  await features.getByRole('button', { name: 'Browse features' }).click();
  await expect(features).toContainText('1,652 rows', { timeout: 60_000 });
  const list = features.getByRole('table', { name: 'Latents' });
  await expect(list.getByRole('row')).toHaveCount(51); // header + a page of 50
  await expect(features).toContainText('1–50 of 64');
  await list.getByRole('row').nth(1).getByRole('button').click();
  const open = Number(/Latent (\d+)/.exec((await features.getByTestId('latent-detail').locator('h3').textContent({ timeout: 60_000 })) ?? '')![1]);
  const contexts = features.getByTestId('latent-contexts');
  await expect(contexts.getByRole('listitem')).toHaveCount(20, { timeout: 60_000 });
  expect(Number(await contexts.locator('.tok.top').first().getAttribute('data-activation'))).toBeGreaterThan(0);
  // The language model is loaded and of the SAE's width: the decoder direction's logit lens.
  await expect(features.getByRole('table', { name: 'Logit lens' })).toBeVisible();

  // The open latent's dashboard, in SAEDashboard's feature JSON, with the model's logit fields.
  const oneJson = page.waitForEvent('download');
  await features.getByRole('button', { name: 'Neuronpedia JSON', exact: true }).click();
  const one = JSON.parse(readFileSync(await (await oneJson).path(), 'utf8'));
  expect(one.model_id).toBe('tiny-gpt2');
  expect(one.layer).toBe(1);
  expect(one.features).toHaveLength(1);
  const feature = one.features[0];
  expect(feature.feature_index).toBe(open);
  expect(feature.activations).toHaveLength(20);
  for (const a of feature.activations) expect(a.tokens.length).toBe(a.values.length);
  expect(feature.freq_hist_data_bar_heights).toHaveLength(50);
  expect(feature.freq_hist_data_bar_heights.reduce((a: number, b: number) => a + b, 0)).toBe(Math.round(feature.frac_nonzero * 1652));
  expect(feature.logits_hist_data_bar_heights).toHaveLength(50);
  expect(feature.logits_hist_data_bar_heights.reduce((a: number, b: number) => a + b, 0)).toBe(357);
  expect(feature.pos_str).toHaveLength(10);
  expect(feature.neg_values).toHaveLength(10);
  expect(feature.n_prompts_total).toBe(60);
  expect(feature.dataset).toBe('story.txt @ blocks.1.hook_resid_pre');
  expect(feature.neuron_alignment_indices).toHaveLength(3);

  // Every alive latent's dashboard, and every latent's contexts.
  const dead = Number(/(\d+) dead/.exec((await features.textContent()) ?? '')![1]);
  const allJson = page.waitForEvent('download');
  await features.getByRole('button', { name: 'Neuronpedia JSON (all alive)' }).click();
  const all = JSON.parse(readFileSync(await (await allJson).path(), 'utf8'));
  expect(all.model_id).toBe('tiny-gpt2');
  expect(all.features).toHaveLength(64 - dead);
  expect(all.features.find((f: { feature_index: number }) => f.feature_index === open).frac_nonzero).toBe(feature.frac_nonzero);
  const ctxJson = page.waitForEvent('download');
  await features.getByRole('button', { name: 'Download contexts JSON' }).click();
  const exported = JSON.parse(readFileSync(await (await ctxJson).path(), 'utf8'));
  expect(exported.d_sae).toBe(64);
  expect(exported.latents).toHaveLength(64);
  const busy = exported.latents.find((l: { density: number }) => l.density > 0);
  expect(busy.contexts[0].tokens[busy.contexts[0].max_index]).toEqual(expect.any(String));
});

test('mlp_out is recorded when chosen; a sharded folder with a shard missing names it and changes nothing', async ({ page }) => {
  const panel = await openWithGpt2(page);
  const info = page.getByTestId('dataset-info');
  await panel.getByRole('radio', { name: 'mlp_out' }).check();
  await expect(panel.getByTestId('lm-hooks')).toContainText('Records blocks.1.hook_mlp_out.');
  await panel.getByRole('button', { name: 'Extract activations from story.txt' }).click();
  await expect(info.locator('.dataset-name')).toHaveText('story.txt @ blocks.1.hook_mlp_out', { timeout: 60_000 });
  await expect(page.getByTestId('dataset-shape')).toHaveText('1,652 × 32');
  await expect(info).toContainText('residuals (blocks.1.hook_mlp_out) of 60 documents of story.txt, BOS dropped');
  const stats = async () => /mean ± std\s*(\S+ ± \S+)/.exec((await info.textContent()) ?? '')![1];
  const gpt2Stats = await stats();
  const log = page.getByRole('log', { name: 'Run log' });
  const extracted = log.getByRole('listitem').filter({ hasText: 'extracted 1,652 rows × 32 at blocks.1.hook_mlp_out from 60 documents of story.txt' });
  await expect(extracted).toHaveCount(1);

  // Qwen2 in two shards, the second not dropped.
  const QWEN = ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'tokenizer.json'];
  await dropFiles(page, QWEN.map((f) => hfFile('tiny-qwen2-sharded', f)));
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('model-00002-of-00002.safetensors is missing: model.safetensors.index.json lists it for 13 tensors');
  await expect(alert).toContainText('Everything loaded before is unchanged.');
  await expect(panel.getByTestId('lm-model')).toContainText('tiny-gpt2 (Hugging Face gpt2, F32)');
  await expect(page.getByTestId('dataset-shape')).toHaveText('1,652 × 32');
  await expect(info.locator('.dataset-name')).toHaveText('story.txt @ blocks.1.hook_mlp_out');

  // The whole folder loads; extracting with it records the same hook of the new model.
  await dropFiles(page, [...QWEN, 'model-00002-of-00002.safetensors'].map((f) => hfFile('tiny-qwen2-sharded', f)));
  await expect(panel.getByTestId('lm-model')).toContainText('tiny-qwen2-sharded (Hugging Face qwen2, BF16): 30,144 parameters, d_model 32, 2 layers, 4 heads (2 kv)');
  await expect(panel).toContainText('tiny-qwen2-sharded/tokenizer.json: 357 pieces');
  await expect(alert).toHaveCount(0);
  await expect(panel.getByTestId('lm-hooks')).toContainText('Records blocks.1.hook_mlp_out.');
  await panel.getByRole('button', { name: 'Extract activations from story.txt' }).click();
  await expect(extracted).toHaveCount(2, { timeout: 60_000 });
  await expect(page.getByTestId('dataset-shape')).toHaveText('1,652 × 32');
  await expect(info.locator('.dataset-name')).toHaveText('story.txt @ blocks.1.hook_mlp_out');
  expect(await stats()).not.toBe(gpt2Stats); // another model's MLP
});

// The imported SAE's own config says nothing of the loaded data: it is spliced on the validation
// documents of the Data panel's split (by whole documents after extraction), the default of
// "Evaluate on".
test('the imported SAE splices on the validation documents of the extracted text', async ({ page }) => {
  const panel = await openWithGpt2(page, SAE);
  await panel.getByRole('button', { name: 'Extract activations from story.txt' }).click();
  await expect(page.getByTestId('dataset-shape')).toHaveText('1,652 × 32', { timeout: 60_000 });
  await expect(page.getByLabel('Split validation by')).toHaveValue('document');
  await expect(panel.getByLabel('Evaluate on').locator('option:checked')).toHaveText('validation documents of the loaded text');
  const imp = page.getByTestId('import-panel');
  await imp.getByRole('button', { name: 'Evaluate with the language model' }).click();
  const result = imp.getByTestId('import-splice');
  await expect(result.or(imp.getByRole('alert'))).toBeVisible({ timeout: 60_000 });
  await expect(imp.getByRole('alert')).toHaveCount(0, { timeout: 1000 });
  await expect(result).toContainText('validation documents of story.txt', { timeout: 1000 });
});

// A model folder whose model fails to load brings no tokenizer either: the page says "Everything
// loaded before is unchanged", and it is.
test('a model folder that fails to load leaves the loaded tokenizer in place', async ({ page }) => {
  const panel = await openWithGpt2(page);
  await dropFiles(page, ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'tokenizer.json'].map((f) => hfFile('tiny-qwen2-sharded', f)));
  await expect(page.getByRole('alert')).toContainText('Everything loaded before is unchanged.');
  await expect(panel).toContainText('tiny-gpt2/tokenizer.json: 357 pieces', { timeout: 1000 });
});

// Open folder… (a folder picker): the files arrive named by their path in the folder, so the model
// is named after it, and files the workbench does not need are named instead of loaded.
test('Open folder… reads a Hugging Face model folder picked whole', async ({ page }) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'saewb-pick-'));
  const folder = path.join(dir, 'my-gpt2');
  mkdirSync(folder);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(path.join(HF, 'tiny-gpt2', f), path.join(folder, f));
  writeFileSync(path.join(folder, 'README.md'), '# my GPT-2\n');
  await openApp(page);
  await page.getByLabel('Model or SAE folder').setInputFiles(folder);
  const panel = page.getByTestId('lm-panel');
  await expect(panel.getByTestId('lm-model')).toContainText('my-gpt2 (Hugging Face gpt2, F32): 38,944 parameters');
  await expect(panel).toContainText('my-gpt2/tokenizer.json: 357 pieces');
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(/not needed: README\.md/);
  await expect(page.getByRole('alert')).toHaveCount(0);
});
