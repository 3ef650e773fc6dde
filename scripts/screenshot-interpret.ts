// Takes docs/interpret.png: the auto-interpretation panel after a TopK run on the real stories260K
// layer-3 activations, pointed at the local mock endpoint (src/data/mockChatServer.ts). The mock
// is no language model: it names the top tokens it sees marked in the prompt, and scores by how
// often the most common one recurs. `npx tsx scripts/screenshot-interpret.ts`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withDevPage } from './devPage';
import { configure, dropFiles } from '../e2e/helpers';
import { startMockChatServer } from '../src/data/mockChatServer';

const DATA = path.resolve(import.meta.dirname, '../../shared/data/stories260k');
const file = (rel: string) => ({ name: path.basename(rel), bytes: readFileSync(path.join(DATA, rel)) });

/** A rule-of-thumb "explanation" from the marked top tokens of the prompt. */
function reply(body: unknown): string {
  const prompt = (body as { messages: { content: string }[] }).messages[1].content;
  const tops = [...prompt.matchAll(/^\d+\. .*?\*\*(.+?)\*\*/gm)].map((m) => m[1].trim());
  const counts = new Map<string, number>();
  for (const t of tops) counts.set(t, (counts.get(t) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1]);
  const share = ranked[0][1] / tops.length;
  const names = ranked.slice(0, 3).map(([t]) => `"${t}"`);
  if (share >= 0.8) return JSON.stringify({ explanation: `The token ${names[0]} in story text.`, score: 5, polysemantic: false });
  if (share >= 0.4) return JSON.stringify({ explanation: `Mostly ${names[0]}, also ${names.slice(1).join(' and ')}.`, score: share >= 0.6 ? 4 : 3, polysemantic: false });
  return JSON.stringify({ explanation: `Polysemantic: ${names.join(', ')} and others.`, score: ranked.length > 8 ? 1 : 2, polysemantic: true });
}

const mock = await startMockChatServer({ reply });
try {
  await withDevPage(4185, { width: 1440, height: 1000 }, async (page) => {
    await dropFiles(page, [file('train/resid_l3.npy'), file('train/tokens.npy'), file('train/doc_ids.npy'), file('vocab.json')]);
    await page.getByTestId('dataset-shape').filter({ hasText: '35,234' }).waitFor({ timeout: 120_000 });
    await configure(page, { variant: 'topk', dSae: 512, batch: 1024, steps: 1000 });
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await page.getByTestId('progress').filter({ hasText: 'done' }).waitFor({ timeout: 600_000 });
    const panel = page.getByTestId('features-panel');
    await panel.getByRole('button', { name: 'Browse features' }).click();
    await panel.getByTestId('density-histogram').waitFor({ timeout: 120_000 });
    const interp = page.getByTestId('interpret-panel');
    await interp.getByLabel('Endpoint URL').fill(mock.url);
    await interp.getByLabel('Model').fill('mock-model');
    await interp.getByLabel('API key').fill('sk-demo-not-a-real-key');
    await interp.getByLabel('Number of latents').fill('8');
    await interp.getByRole('button', { name: 'Interpret 8 latents' }).click();
    await interp.getByRole('table', { name: 'Interpretations' }).getByRole('row').nth(8).waitFor({ timeout: 120_000 });
    await interp.getByRole('table', { name: 'Interpretations' }).getByRole('row').nth(1).getByRole('button').click();
    await panel.getByTestId('latent-interpretation').waitFor({ timeout: 120_000 });
    await page.waitForTimeout(1000);
    await interp.screenshot({ path: 'docs/interpret.png' });
    console.log('wrote docs/interpret.png');
    console.log(`the first prompt sent:\n${(mock.requests[0].body as { messages: { content: string }[] }).messages[1].content}`);
    await panel.getByTestId('latent-detail').screenshot({ path: '/tmp/interpret-detail.png' });
  });
} finally {
  await mock.close();
}
