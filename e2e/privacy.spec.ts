// Privacy and safety (issue 8): the page contacts nothing but its own origin — its
// Content-Security-Policy (src/ui/csp.ts) forbids every other origin except this machine and the
// interpretation endpoints the user allows — and token strings and file names from the user's files
// are always text, never markup.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { configure, dropFiles, npyBytes, npyInt32Bytes, openApp } from './helpers';

const PREVIEW = `http://127.0.0.1:${process.env.E2E_PORT ?? 4173}`;
const DEV = `http://127.0.0.1:${process.env.E2E_DEV_PORT ?? 5173}`;

interface Watch {
  /** Every URL the page, its frames and its workers asked for. */
  requests: string[];
  /** Requests that failed, with the reason ('net::ERR_BLOCKED_BY_CSP' …). */
  failed: { url: string; error: string }[];
  /** CSP violations reported to the page or its workers, and console messages about the policy. */
  violations: string[];
  dialogs: string[];
}

/** Record requests, CSP violations (document and workers, events and console) and dialogs from the start. */
async function watch(context: BrowserContext, page: Page): Promise<Watch> {
  const w: Watch = { requests: [], failed: [], violations: [], dialogs: [] };
  // Worker requests come through the context too (and their frame is the page's); service workers would as well.
  context.on('request', (r) => w.requests.push(r.url()));
  context.on('requestfailed', (r) => w.failed.push({ url: r.url(), error: r.failure()?.errorText ?? '' }));
  context.on('serviceworker', (sw) => w.violations.push(`unexpected service worker ${sw.url()}`));
  const onConsole = (where: string) => (m: { type(): string; text(): string }) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) w.violations.push(`${where} console: ${m.text()}`);
  };
  page.on('console', onConsole('page'));
  page.on('worker', (worker) => worker.on('console', onConsole(`worker ${worker.url()}`)));
  page.on('dialog', (d) => { w.dialogs.push(`${d.type()}: ${d.message()}`); void d.dismiss(); });
  await page.exposeBinding('__cspViolation', (_src, text: string) => { w.violations.push(text); });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __cspViolation(t: string): void }).__cspViolation(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  return w;
}

/** Whether a URL is on the page's own origin (or is data:/blob: of the page). */
function sameOrigin(url: string, origin: string): boolean {
  if (url.startsWith('data:')) return true;
  if (url.startsWith('blob:')) return url.startsWith(`blob:${origin}/`);
  return new URL(url).origin === origin;
}

const noViolations = (w: Watch) => expect(w.violations, w.violations.join('\n')).toEqual([]);

test('the whole flow on the sample data contacts only the page\'s own origin, with no CSP violation', async ({ page, context }) => {
  test.setTimeout(240_000);
  const w = await watch(context, page);
  const response = await page.goto('/');
  // The header (dev/preview), the fixed meta of the build and the boot script's meta with connect-src.
  const header = response!.headers()['content-security-policy'];
  expect(header).toContain("frame-ancestors 'none'");
  expect(header).toContain("script-src 'self' 'wasm-unsafe-eval';");
  expect(header).not.toContain('connect-src');
  const metas = await page.locator('meta[http-equiv="Content-Security-Policy"]').evaluateAll((ms) => ms.map((m) => m.getAttribute('content')!));
  expect(metas).toHaveLength(2);
  expect(metas[1]).toContain("default-src 'self'");
  expect(metas[1]).toContain("connect-src 'self' http://127.0.0.1:* http://localhost:*;");
  for (const m of metas) expect(m).not.toMatch(/'unsafe-eval'|(^|\s)(\*|https?:)(\s|;|$)/);

  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
  await expect(page.getByTestId('backend')).toContainText('wasm', { timeout: 60_000 });
  await configure(page, { variant: 'topk', dSae: 128, batch: 256, steps: 150 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText('done · step 150 / 150', { timeout: 150_000 });
  await expect(page.getByTestId('eval-metrics')).toBeVisible();

  // Analysis: statistics CSV and its charts.
  const analysis = page.getByTestId('analysis-panel');
  await expect(analysis.getByRole('table', { name: 'Training statistics' })).toContainText('total_loss');
  await expect(analysis.getByTestId('chart-loss-rate').locator('.main-svg').first()).toBeVisible();
  const csv = page.waitForEvent('download');
  await analysis.getByRole('button', { name: 'Download statistics CSV' }).click();
  expect((await csv).suggestedFilename()).toBe('training_statistics.csv');

  // Features: browse, open a latent.
  const panel = page.getByTestId('features-panel');
  await panel.getByRole('button', { name: 'Browse features' }).click();
  await expect(panel.getByTestId('density-histogram')).toBeVisible({ timeout: 60_000 });
  await panel.getByRole('table', { name: 'Latents' }).getByRole('row').nth(1).getByRole('button').click();
  await expect(panel.getByTestId('latent-detail')).toBeVisible({ timeout: 60_000 });

  // Export: the SAELens zip and one of its files.
  const zip = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export SAELens' }).click();
  expect((await zip).suggestedFilename()).toBe('sae_topk_128.zip');
  const cfg = page.waitForEvent('download');
  await page.getByRole('button', { name: 'cfg.json' }).click();
  expect(JSON.parse(readFileSync(await (await cfg).path(), 'utf8')).d_sae).toBe(128);

  // The worker's requests were seen (its .wasm), and every request stayed on the page's origin;
  // so did every resource the document loaded by its own account.
  expect(w.requests.some((u) => /\.wasm(\?|$)/.test(u))).toBe(true);
  expect(w.requests.length).toBeGreaterThan(5);
  const foreign = w.requests.filter((u) => !sameOrigin(u, PREVIEW));
  expect(foreign, foreign.join('\n')).toEqual([]);
  const resources = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  expect(resources.filter((u) => !sameOrigin(u, PREVIEW))).toEqual([]);
  noViolations(w);
  expect(w.dialogs).toEqual([]);
});

for (const backend of ['webgpu', 'webgl']) {
  test(`the ${backend} backend trains under the policy with no violation and no foreign request`, async ({ page, context }) => {
    const w = await watch(context, page);
    await page.goto(`/?backend=${backend}`);
    await expect(page.getByTestId('backend')).toContainText(backend, { timeout: 60_000 });
    await configure(page, { variant: 'relu', dSae: 64, batch: 64, steps: 20 });
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await expect(page.getByTestId('progress')).toContainText('done · step 20 / 20', { timeout: 150_000 });
    expect(w.requests.filter((u) => !sameOrigin(u, PREVIEW))).toEqual([]);
    noViolations(w);
  });
}

test('the policy blocks other origins (fetch, image, websocket, worker) and lets the page reach this machine', async ({ page, context }) => {
  const loopback = createServer((_req, res) => {
    res.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'text/plain' });
    res.end('local');
  });
  await new Promise<void>((resolve) => loopback.listen(0, '127.0.0.1', resolve));
  const port = (loopback.address() as AddressInfo).port;
  try {
    const w = await watch(context, page);
    let workerHeader = '';
    page.on('response', (r) => { if (/engine\.worker[^/]*\.js/.test(r.url())) workerHeader = r.headers()['content-security-policy'] ?? ''; });
    await openApp(page);
    // The engine worker's script gets the whole policy with connect-src 'self' (workers do not inherit the page's).
    expect(workerHeader).toContain("connect-src 'self';");
    noViolations(w);

    const result = await page.evaluate(async (port) => {
      const outcome = (p: Promise<unknown>) => p.then(() => 'allowed', (e) => `blocked: ${e}`);
      const fetched = await outcome(fetch('https://example.com/'));
      const image = await new Promise<string>((resolve) => {
        const img = new Image();
        img.onload = () => resolve('allowed');
        img.onerror = () => resolve('blocked');
        img.src = 'http://10.1.2.3/x.png';
      });
      const socket = await new Promise<string>((resolve) => {
        try {
          const ws = new WebSocket('wss://example.com/socket');
          ws.onopen = () => resolve('allowed');
          ws.onerror = () => resolve('blocked');
        } catch (e) {
          resolve(`blocked: ${e}`);
        }
      });
      const beacon = navigator.sendBeacon('https://example.com/beacon', 'x');
      // A worker made from a blob inherits the page's policy.
      const worker = await new Promise<string>((resolve) => {
        const src = "fetch('https://example.com/').then(() => postMessage('allowed'), (e) => postMessage('blocked: ' + e))";
        const wk = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
        wk.onmessage = (e) => resolve(e.data as string);
      });
      const local = await fetch(`http://127.0.0.1:${port}/v1/models`).then((r) => r.text(), (e) => `blocked: ${e}`);
      return { fetched, image, socket, beacon, worker, local };
    }, port);
    expect(result.fetched).toMatch(/^blocked/);
    expect(result.image).toBe('blocked');
    expect(result.socket).toMatch(/^blocked/);
    expect(result.worker).toMatch(/^blocked/);
    expect(result.local).toBe('local');
    expect(typeof result.beacon).toBe('boolean');
    await expect.poll(() => w.violations.filter((v) => v.startsWith('connect-src') || v.startsWith('img-src'))).toEqual(expect.arrayContaining([
      expect.stringContaining('connect-src blocked https://example.com/'),
      expect.stringContaining('img-src blocked http://10.1.2.3/x.png'),
      expect.stringContaining('connect-src blocked wss://example.com/socket'),
      expect.stringContaining('connect-src blocked https://example.com/beacon'),
    ]));
    expect(w.violations.join('\n')).not.toContain(`127.0.0.1:${port}`);
    // Nothing but the page's origin and this machine was asked for, except what the policy blocked
    // before it left the page (Chromium still reports those as requests that failed).
    const foreign = w.requests.filter((u) => !sameOrigin(u, PREVIEW) && !u.startsWith(`http://127.0.0.1:${port}/`));
    for (const u of foreign) expect(w.failed.find((f) => f.url === u)?.error, u).toBe('csp');
  } finally {
    loopback.close();
  }
});

test('served statically (no headers), the build\'s meta elements alone enforce the policy', async ({ page, context }) => {
  const html = readFileSync('dist/index.html', 'utf8');
  const head = html.slice(0, html.indexOf('</head>'));
  // The fixed meta and the boot script come first, before any other script or resource.
  expect(head.indexOf('http-equiv="Content-Security-Policy"')).toBeGreaterThan(0);
  expect(head.indexOf('http-equiv="Content-Security-Policy"')).toBeLessThan(head.indexOf('<script'));
  expect(head.indexOf('<script src="/csp.js?v=')).toBeLessThan(head.indexOf('<script type="module"'));
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
  await context.route('**/*', async (route) => {
    const res = await route.fetch();
    const headers = { ...res.headers() };
    delete headers['content-security-policy'];
    await route.fulfill({ response: res, headers });
  });
  const w = await watch(context, page);
  const response = await page.goto('/');
  expect(response!.headers()['content-security-policy']).toBeUndefined();
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
  await expect(page.getByTestId('backend')).toContainText('wasm', { timeout: 60_000 });
  noViolations(w);
  const fetched = await page.evaluate(() => fetch('https://example.com/').then(() => 'allowed', () => 'blocked'));
  expect(fetched).toBe('blocked');
  await expect.poll(() => w.violations).toContainEqual(expect.stringContaining('connect-src blocked https://example.com/'));
  expect(w.violations.filter((v) => !v.includes('https://example.com/'))).toEqual([]);
});

test('the dev server of `npm start` serves the same policy (with its HMR websocket) and the app runs under it', async ({ page, context }) => {
  test.setTimeout(150_000);
  const w = await watch(context, page);
  const response = await page.goto(`${DEV}/`);
  expect(response!.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64', { timeout: 90_000 });
  await expect(page.getByTestId('backend')).toContainText('wasm', { timeout: 90_000 });
  const meta = await page.locator('meta[http-equiv="Content-Security-Policy"][data-allowed-origins]').getAttribute('content');
  expect(meta).toContain("connect-src 'self' http://127.0.0.1:* http://localhost:* ws://127.0.0.1:* ws://localhost:*;");
  expect(meta).not.toContain("'unsafe-eval'");
  await page.getByLabel('Steps', { exact: true }).fill('20');
  await page.getByLabel('d_sae', { exact: true }).fill('64');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText('done · step 20 / 20', { timeout: 120_000 });
  noViolations(w);
  expect(w.requests.filter((u) => !sameOrigin(u, DEV) && !u.startsWith(`${DEV.replace('http', 'ws')}/`))).toEqual([]);
  expect(await page.evaluate(() => fetch('https://example.com/').then(() => 'allowed', () => 'blocked'))).toBe('blocked');
});

test('token strings and file names from the user\'s files are rendered as text, never as markup', async ({ page, context }) => {
  test.setTimeout(180_000);
  const w = await watch(context, page);
  await openApp(page);
  const IMG = '<img src=x onerror=alert(1)>';
  const SCRIPT = '<script>window.__pwned=1</script>';
  const SVG = '<svg onload=alert(2)>';
  const LINK = '<a href="https://example.com/">click</a>';
  const BOLD = '<b>bold</b>';
  const pieces = [IMG, SCRIPT, SVG, LINK, ' the', '&amp;', BOLD, ...Array.from({ length: 13 }, (_, i) => `tok${i}`)];
  const N = 600, d = 32;
  const tokens = Array.from({ length: N }, (_, r) => (r * 7) % pieces.length);
  // Rows of the markup pieces get a large first coordinate so that they top some latents' contexts.
  const acts = npyBytes(N, d, (r, c) => Math.sin(r * 0.37 + c) + (tokens[r] < 4 && c === tokens[r] ? 6 : 0));
  await dropFiles(page, [
    { name: `${IMG}.json`, bytes: Buffer.from(JSON.stringify(pieces)) },
    { name: `${SVG}ids.npy`, bytes: npyInt32Bytes(tokens) },
    { name: `${SCRIPT}.npy`, bytes: acts },
  ]);
  await expect(page.getByTestId('dataset-shape')).toHaveText(`${N} × ${d}`);
  const companions = page.getByTestId('companions');
  await expect(companions).toContainText(`${IMG}.json · ${pieces.length} pieces`);
  await expect(companions).toContainText(`${SVG}ids.npy`);
  await expect(page.getByTestId('dataset-info')).toContainText(`${SCRIPT}.npy`);

  // A guidance target on a markup piece: its description reaches the run log and a chart title.
  await page.getByRole('button', { name: 'Add target' }).click();
  const target = page.getByRole('group', { name: 'Guidance target g0' });
  await target.getByLabel('Labels', { exact: true }).selectOption('piece');
  await target.getByLabel('Token piece').fill(BOLD);
  await configure(page, { variant: 'topk', dSae: 64, batch: 64, steps: 60 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 120_000 });
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(BOLD);
  // Plotly reads some HTML in titles (<b> would turn bold, <a href> into a link): the guidance chart's title shows the piece as typed.
  await expect(page.locator('.gtitle').filter({ hasText: `token is "${BOLD}"` })).toHaveCount(1);

  const panel = page.getByTestId('features-panel');
  await panel.getByRole('button', { name: 'Browse features' }).click();
  const list = panel.getByRole('table', { name: 'Latents' });
  await expect(list.getByRole('row').nth(1)).toBeVisible({ timeout: 60_000 });
  // Open latents until the markup pieces have all been shown in some context.
  const seen = new Set<string>();
  const rows = await list.getByRole('row').count();
  for (let i = 1; i < Math.min(rows, 12) && seen.size < 4; i++) {
    await list.getByRole('row').nth(i).getByRole('button').click();
    const contexts = panel.getByTestId('latent-contexts');
    await expect(contexts.getByRole('listitem').first()).toBeVisible({ timeout: 60_000 });
    const text = await contexts.innerText();
    for (const p of [IMG, SCRIPT, SVG, LINK]) if (text.includes(p)) seen.add(p);
  }
  expect([...seen].sort()).toEqual([IMG, LINK, SCRIPT, SVG].sort());
  await expect(panel.getByTestId('latent-contexts').locator('.tok').filter({ hasText: /^<(img |script>|svg |a )/ }).first()).toBeVisible();

  // Nothing ran, nothing was parsed as markup.
  expect(w.dialogs).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.locator('body script').count()).toBe(0);
  expect(await page.locator('svg[onload]').count()).toBe(0);
  expect(await page.locator('a[href="https://example.com/"]').count()).toBe(0);
  expect(await page.locator('[onerror], [onload]').count()).toBe(0);
  // The data panel still shows the names as text after all that.
  await expect(page.getByTestId('companions')).toContainText(`${IMG}.json`);
  expect(w.requests.filter((u) => !sameOrigin(u, PREVIEW))).toEqual([]);
  noViolations(w);
});

test('a remote interpretation endpoint is contacted only once the user allows its origin (and reloads); removing it blocks it again', async ({ page, context }) => {
  test.setTimeout(240_000);
  const REMOTE = 'https://api.example.com';
  const KEY = 'sk-remote-SECRET';
  const hits: string[] = [];
  // The "remote" endpoint, answered by the test (a request the policy blocks never gets here).
  await context.route(`${REMOTE}/**`, async (route) => {
    const req = route.request();
    hits.push(`${req.method()} ${req.url()}`);
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization, content-type', 'access-control-allow-methods': 'GET, POST, OPTIONS' };
    if (req.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
    const content = JSON.stringify({ explanation: 'remote explanation', score: 5, polysemantic: false });
    return route.fulfill({ status: 200, headers: { ...cors, 'content-type': 'application/json' }, body: JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content } }] }) });
  });
  const w = await watch(context, page);
  const remoteFetch = () => page.evaluate((u) => fetch(`${u}/v1/models`).then((r) => `status ${r.status}`, () => 'blocked'), REMOTE);
  const trainAndBrowse = async () => {
    await configure(page, { variant: 'relu', dSae: 32, batch: 128, steps: 30 });
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await expect(page.getByTestId('progress')).toContainText('done', { timeout: 120_000 });
    const panel = page.getByTestId('features-panel');
    await panel.getByRole('button', { name: 'Browse features' }).click();
    await expect(panel.getByTestId('density-histogram')).toBeVisible({ timeout: 60_000 });
  };

  await openApp(page);
  await trainAndBrowse();
  const interp = page.getByTestId('interpret-panel');
  await interp.getByLabel('Endpoint URL').fill(`${REMOTE}/v1`);
  await interp.getByLabel('Model').fill('remote-model');
  await interp.getByLabel('API key').fill(KEY);
  const notice = interp.getByTestId('interpret-csp');
  await expect(notice).toContainText(`This page's Content-Security-Policy only lets it contact its own origin and this machine; allow ${REMOTE} and reload.`);
  await expect(notice).toContainText('the API key is not (type it again)');
  await expect(interp.getByTestId('interpret-why')).toContainText('may not contact this endpoint');
  await expect(interp.getByRole('button', { name: /^Interpret/ })).toBeDisabled();
  expect(await remoteFetch()).toBe('blocked');
  expect(hits).toEqual([]);
  // A loopback endpoint needs no allowance.
  await interp.getByLabel('Endpoint URL').fill('http://127.0.0.1:8000/v1');
  await expect(notice).toHaveCount(0);
  await interp.getByLabel('Endpoint URL').fill(`${REMOTE}/v1`);

  await Promise.all([page.waitForEvent('load'), notice.getByRole('button', { name: `Allow ${REMOTE} and reload` }).click()]);
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
  expect(await page.evaluate(() => localStorage.getItem('sae-workbench.allowedOrigins'))).toBe(JSON.stringify([REMOTE]));
  expect(await page.locator('meta[data-allowed-origins]').getAttribute('data-allowed-origins')).toBe(REMOTE);
  expect(await page.locator('meta[data-allowed-origins]').getAttribute('content')).toContain(`connect-src 'self' http://127.0.0.1:* http://localhost:* ${REMOTE};`);
  expect(await remoteFetch()).toBe('status 200');
  expect(await page.evaluate(() => fetch('https://example.com/').then(() => 'allowed', () => 'blocked'))).toBe('blocked');

  // The endpoint and model came through the reload; the key did not.
  await trainAndBrowse();
  await expect(interp.getByLabel('Endpoint URL')).toHaveValue(`${REMOTE}/v1`);
  await expect(interp.getByLabel('Model')).toHaveValue('remote-model');
  await expect(interp.getByLabel('API key')).toHaveValue('');
  await expect(notice).toHaveCount(0);
  await expect(interp.getByRole('list', { name: 'Allowed endpoint origins' })).toContainText(REMOTE);
  await interp.getByLabel('API key').fill(KEY);
  await interp.getByLabel('Number of latents').fill('2');
  await interp.getByRole('button', { name: 'Interpret 2 latents' }).click();
  const table = interp.getByRole('table', { name: 'Interpretations' });
  await expect(table.getByRole('row')).toHaveCount(3, { timeout: 60_000 });
  await expect(table).toContainText('remote explanation');
  expect(hits.filter((h) => h.startsWith('POST ')).length).toBe(2);
  expect(await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))).not.toContain(KEY);

  // Removing: still allowed until the page reloads, blocked after.
  await interp.getByRole('button', { name: `Remove ${REMOTE}` }).click();
  await expect(interp.getByRole('list', { name: 'Allowed endpoint origins' })).toContainText('removed: still allowed until the page reloads');
  expect(await page.evaluate(() => localStorage.getItem('sae-workbench.allowedOrigins'))).toBeNull();
  await page.reload();
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
  expect(await remoteFetch()).toBe('blocked');
  expect(await page.locator('meta[data-allowed-origins]').getAttribute('data-allowed-origins')).toBe('');

  // A tampered list cannot widen the policy.
  await page.evaluate(() => localStorage.setItem('sae-workbench.allowedOrigins', JSON.stringify(['*', 'https:', "https://x.example; script-src 'unsafe-inline'", 'https://*.example.com', 'https://ok.example'])));
  await page.reload();
  expect(await page.locator('meta[data-allowed-origins]').getAttribute('data-allowed-origins')).toBe('https://ok.example');
  const policy = (await page.locator('meta[data-allowed-origins]').getAttribute('content'))!;
  expect(policy).toContain("connect-src 'self' http://127.0.0.1:* http://localhost:* https://ok.example;");
  expect(policy).not.toContain('unsafe-inline\'; script');
  expect(policy.split(';').find((d) => d.trim().startsWith('script-src'))).toBe(" script-src 'self' 'wasm-unsafe-eval'");
  expect(w.dialogs).toEqual([]);
});
