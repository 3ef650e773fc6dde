// Auto-interpretation in the browser against a local mock chat endpoint (src/data/mockChatServer.ts
// on 127.0.0.1, another origin than the page, so CORS is exercised): train on the real activations
// (../shared/data; skipped where absent), interpret 3 latents, see their scores, download the JSON
// and check the key went only into the Authorization header.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { SHARED_DATA, configure, dropRealActivations, hasSharedData, openApp } from './helpers';
import { startMockChatServer } from '../src/data/mockChatServer';

const KEY = 'sk-test-SECRET';

test('interpret 3 latents with a local OpenAI-compatible endpoint; the key never leaves the Authorization header', async ({ page }) => {
  test.skip(!hasSharedData, `${SHARED_DATA} is absent (it exists only beside the project in CI)`);
  test.setTimeout(180_000);
  const mock = await startMockChatServer();
  const refusing = await startMockChatServer({ reply: () => ({ status: 401, body: { error: { message: 'invalid api key' } } }) });
  try {
    await openApp(page);
    await dropRealActivations(page);
    await configure(page, { variant: 'topk', dSae: 256, batch: 512, steps: 200 });
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await expect(page.getByTestId('progress')).toContainText('done', { timeout: 120_000 });

    const panel = page.getByTestId('features-panel');
    const interp = page.getByTestId('interpret-panel');
    await expect(interp.getByTestId('interpret-why')).toContainText('Browse features first');
    await panel.getByRole('button', { name: 'Browse features' }).click();
    await expect(panel).toContainText('35,234 rows', { timeout: 60_000 });

    await expect(interp.getByTestId('interpret-why')).toContainText('Give the endpoint URL');
    await interp.getByLabel('Endpoint URL').fill(mock.url);
    await interp.getByLabel('Model').fill('mock-model');
    await interp.getByLabel('API key').fill(KEY);
    await interp.getByLabel('Number of latents').fill('3');
    await interp.getByRole('button', { name: 'Interpret 3 latents' }).click();

    const table = interp.getByRole('table', { name: 'Interpretations' });
    await expect(table.getByRole('row')).toHaveCount(4, { timeout: 60_000 }); // header + 3
    for (let i = 1; i <= 3; i++) {
      await expect(table.getByRole('row').nth(i).locator('.score')).toHaveText('4');
      await expect(table.getByRole('row').nth(i)).toContainText('the token');
    }
    expect(mock.requests).toHaveLength(3);
    for (const req of mock.requests) {
      expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
      const body = req.body as { model: string; max_tokens: number; messages: { role: string; content: string }[] };
      expect(body.model).toBe('mock-model');
      expect(body.messages[1].content).toMatch(/^1\. .*\*\*.+\*\*\(10\)/m);
      expect(JSON.stringify(body)).not.toContain(KEY);
    }

    // The explanation shows in the latent's detail too.
    const first = table.getByRole('row').nth(1);
    const latent = (await first.getByRole('button').textContent())!;
    await first.getByRole('button').click();
    await expect(panel.getByTestId('latent-detail').getByRole('heading')).toHaveText(`Latent ${latent}`, { timeout: 60_000 });
    await expect(panel.getByTestId('latent-interpretation')).toContainText('the token');

    const download = page.waitForEvent('download');
    await interp.getByRole('button', { name: 'Download JSON' }).click();
    const dl = await download;
    expect(dl.suggestedFilename()).toBe('interpretations.json');
    const text = readFileSync(await dl.path(), 'utf8');
    expect(text).not.toContain(KEY);
    const json = JSON.parse(text);
    expect(json.latents).toHaveLength(3);
    expect(json.model).toBe('mock-model');
    expect(json.endpoint_host).toBe(new URL(mock.url).host);
    expect(json.run).toMatchObject({ architecture: 'topk', d_sae: 256 });
    expect(json.latents.map((l: { score: number }) => l.score)).toEqual([4, 4, 4]);

    // The key is nowhere in the page, its storage or the run log.
    expect(await page.content()).not.toContain(KEY);
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))).not.toContain(KEY);

    // A refused key: no retry, a clear message.
    await interp.getByLabel('Endpoint URL').fill(refusing.url);
    await interp.getByRole('button', { name: 'Interpret 3 latents' }).click();
    await expect(interp.getByRole('alert')).toContainText('the endpoint refused the key (401)');
    expect(refusing.requests).toHaveLength(1);
  } finally {
    await mock.close();
    await refusing.close();
  }
});
