// Takes docs/hf-model.png: the tiny random GPT-2 of fixtures/hf dropped as a Hugging Face folder
// with its SAELens SAE and a text; the SAE's hook chosen by itself, its activations extracted, and
// the SAE spliced in from the Imported SAE panel. Run `npx tsx scripts/screenshot-hf.ts`: it starts
// Vite's dev server and drives Debian's headless Chromium through Playwright.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withDevPage } from './devPage';
import { dropFiles } from '../e2e/helpers';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/hf');
const file = (dir: string, name: string) => ({ name: `${dir}/${name}`, bytes: readFileSync(path.join(FIXTURES, dir, name)) });
const lines = ['The quick brown fox jumps over the lazy dog near the river bank.', 'A small model reads the story and guesses the next word each time.', 'Sparse autoencoders find directions that fire on a few tokens only.'];

await withDevPage(4183, { width: 1440, height: 3400 }, async (page) => {
  await dropFiles(page, [
    ...['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'].map((f) => file('tiny-gpt2', f)),
    ...['cfg.json', 'sae_weights.safetensors'].map((f) => file('tiny-gpt2-sae', f)),
    { name: 'story.txt', bytes: new TextEncoder().encode(Array.from({ length: 20 }, () => lines).flat().join('\n')) },
  ]);
  const panel = page.getByTestId('lm-panel');
  await panel.getByTestId('lm-model').filter({ hasText: 'parameters' }).waitFor();
  await panel.getByRole('button', { name: 'Extract activations from story.txt' }).click();
  await page.getByTestId('dataset-shape').waitFor({ timeout: 60_000 });
  const imported = page.getByTestId('import-panel');
  await imported.getByRole('button', { name: 'Evaluate with the language model' }).click();
  await imported.getByTestId('import-splice').waitFor({ timeout: 60_000 });
  await page.waitForTimeout(1000);
  // The Language model and Imported SAE panels, one above the other.
  const top = (await panel.boundingBox())!;
  const bottom = (await imported.boundingBox())!;
  // A viewport taller than the page: bounding boxes are page coordinates.
  await page.screenshot({ path: 'docs/hf-model.png', clip: { x: top.x - 8, y: top.y - 8, width: top.width + 16, height: bottom.y + bottom.height - top.y + 16 } });
  console.log('wrote docs/hf-model.png');
});
