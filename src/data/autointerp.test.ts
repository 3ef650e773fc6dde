// Auto-interpretation against a real local HTTP server (src/data/mockChatServer.ts on 127.0.0.1):
// the request (URL, headers, body, prompt), parsing of the answers, retries, cancel, and an export
// that never contains the key.
import { afterEach, describe, expect, it } from 'vitest';
import {
  MAX_TOKENS, TEMPERATURE, buildPrompt, chatCompletionsUrl, interpretLatent, interpretLatents, interpretationsExport,
  parseExplanation, parseLatentList, topLatents, type InterpretContext, type InterpretEndpoint,
} from './autointerp';
import { startMockChatServer, type MockChatServer, type MockReply } from './mockChatServer';

const KEY = 'sk-test-SECRET-1234';

const contexts: InterpretContext[] = [
  { tokens: ['Once', ' upon', ' a', ' time', ',', ' Lily', ' went', ' to', ' the', ' park'], values: [0, 0, 0, 0, 0, 3.2, 0.4, 0, 0, 0], centre: 5 },
  { tokens: [' One', ' day', ',', ' Lily', ' saw', ' a', ' cat'], values: [0, 0, 0, 2.5, 0, 0, 0], centre: 3 },
  { tokens: [' Tim', ' and', ' Lily', ' played'], values: [0, 0, 1.6, 0], centre: 2 },
];

let server: MockChatServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function mock(reply?: (body: unknown, index: number) => MockReply | Promise<MockReply>) {
  server = await startMockChatServer({ reply });
  const endpoint: InterpretEndpoint = { url: server.url, model: 'mock-model', key: KEY };
  return { server, endpoint };
}

const opts = { fetch: globalThis.fetch, backoffMs: 5 };

describe('chatCompletionsUrl', () => {
  it('appends /chat/completions to a base URL and keeps a full one', () => {
    expect(chatCompletionsUrl('http://127.0.0.1:8000/v1')).toBe('http://127.0.0.1:8000/v1/chat/completions');
    expect(chatCompletionsUrl(' http://127.0.0.1:8000/v1/ ')).toBe('http://127.0.0.1:8000/v1/chat/completions');
    expect(chatCompletionsUrl('https://api.example.com/v1/chat/completions')).toBe('https://api.example.com/v1/chat/completions');
    expect(chatCompletionsUrl('https://h/openai/deployments/x/chat/completions?api-version=1')).toBe('https://h/openai/deployments/x/chat/completions?api-version=1');
    expect(() => chatCompletionsUrl('127.0.0.1:8000')).toThrow(/http/);
    expect(() => chatCompletionsUrl('not a url')).toThrow(/not a URL/);
    expect(() => chatCompletionsUrl('http://user:pw@h/v1')).toThrow(/key field/);
  });
});

describe('buildPrompt', () => {
  it('marks the top token, shows activations on a 1–10 scale and trims the windows', () => {
    const p = buildPrompt(contexts);
    expect(p).toContain('1. Once upon a time, **Lily**(10) went(1) to the park');
    expect(p).toContain('2. One day, **Lily**(8) saw a cat');
    expect(p).toContain('3. Tim and **Lily**(5) played');
    expect(p).toMatch(/Polysemantic/);
    expect(p).toMatch(/"score": <integer 1-5/);
    const long: InterpretContext = { tokens: Array.from({ length: 40 }, (_, i) => ` t${i}`), values: Array.from({ length: 40 }, (_, i) => (i === 30 ? 1 : 0)), centre: 30 };
    const trimmed = buildPrompt([long], { before: 3, after: 2 });
    expect(trimmed).toContain('1. t27 t28 t29 **t30**(10) t31 t32\n');
  });

  it('keeps the 20 strongest contexts, strongest first, and makes whitespace tokens visible', () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ tokens: [' a', `▁w${i}`, '<0x0A>'], values: [0, i + 1, 0], centre: 1 }));
    const p = buildPrompt(many);
    expect(p.split('\n').filter((l) => /^\d+\. /.test(l))).toHaveLength(20);
    expect(p).toContain('1. a **w29**(10)\\n');
    expect(p).not.toContain('w9*');
    expect(buildPrompt([{ tokens: ['x', ' '], values: [0, 1], centre: 1 }])).toContain('x**␣**(10)');
  });
});

describe('parseExplanation', () => {
  it('reads strict JSON', () => {
    expect(parseExplanation('{"explanation": "the name Lily", "score": 5, "polysemantic": false}')).toEqual({ explanation: 'the name Lily', score: 5, polysemantic: false });
  });
  it('reads JSON in code fences and inside prose', () => {
    expect(parseExplanation('Sure!\n```json\n{"explanation": "names", "score": "4", "polysemantic": "false"}\n```')).toEqual({ explanation: 'names', score: 4, polysemantic: false });
    expect(parseExplanation('Here is my answer: {"explanation": "a {brace} in text", "score": 3, "polysemantic": true} Hope it helps.')).toEqual({ explanation: 'a {brace} in text', score: 3, polysemantic: true });
  });
  it("accepts the description / similarity_score field names and rounds a fractional score", () => {
    expect(parseExplanation('{"description": "Paris", "similarity_score": 4.4, "polysemantic": false}')).toEqual({ explanation: 'Paris', score: 4, polysemantic: false });
  });
  it('falls back to a regex for the score in plain text', () => {
    expect(parseExplanation('Explanation: the word "Lily" after a comma\nScore: 4')).toEqual({ explanation: 'the word "Lily" after a comma', score: 4, polysemantic: false });
    const poly = parseExplanation('Polysemantic: the snippets share nothing.\nscore: 1');
    expect(poly).toMatchObject({ score: 1, polysemantic: true });
  });
  it('records an error for a score outside 1–5, a missing score and an answer without either', () => {
    expect(parseExplanation('{"explanation": "names", "score": 7, "polysemantic": false}')).toEqual({ explanation: 'names', score: null, polysemantic: false, error: 'the score 7 is outside 1–5' });
    expect(parseExplanation('{"explanation": "names", "score": "high"}').error).toBe('the score "high" is not a number');
    expect(parseExplanation('{"explanation": "names"}').error).toBe('the answer has no score');
    const junk = parseExplanation('I cannot tell.');
    expect(junk.score).toBeNull();
    expect(junk.error).toMatch(/not JSON.*no score/);
  });
});

describe('choosing latents', () => {
  it('parses lists and ranges and explains mistakes', () => {
    expect(parseLatentList('3, 7, 12-15', 64)).toEqual([3, 7, 12, 13, 14, 15]);
    expect(parseLatentList('5 5 4', 64)).toEqual([5, 4]);
    expect(parseLatentList('70', 64)).toBe('latent 70 does not exist (d_sae 64)');
    expect(parseLatentList('9-3', 64)).toMatch(/backwards/);
    expect(parseLatentList('x', 64)).toMatch(/not a latent/);
    expect(parseLatentList('', 64)).toMatch(/list latents/);
  });
  it('picks the alive latents with the highest max activation', () => {
    expect(topLatents([5, 9, 0, 7, 9], [0.1, 0.2, 0, 0.3, 0.1], 3)).toEqual([1, 4, 3]);
    expect(topLatents([5, 9, 100], [0.1, 0.2, 0], 10)).toEqual([1, 0]);
  });
});

describe('interpretLatent against a local endpoint', () => {
  it('POSTs model, messages with the contexts, max_tokens and temperature, with the key only in the Authorization header', async () => {
    const { server, endpoint } = await mock(() => '{"explanation": "the name Lily", "score": 5, "polysemantic": false}');
    const r = await interpretLatent(endpoint, contexts, { ...opts, latent: 7 });
    expect(r).toEqual({ latent: 7, explanation: 'the name Lily', score: 5, polysemantic: false, raw: '{"explanation": "the name Lily", "score": 5, "polysemantic": false}' });
    expect(server.requests).toHaveLength(1);
    const req = server.requests[0];
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.headers['content-type']).toBe('application/json');
    const body = req.body as { model: string; messages: { role: string; content: string }[]; max_tokens: number; temperature: number };
    expect(body.model).toBe('mock-model');
    expect(body.max_tokens).toBe(MAX_TOKENS);
    expect(body.temperature).toBe(TEMPERATURE);
    expect(body.messages.map((m) => m.role)).toEqual(['system', 'user']);
    const user = body.messages[1].content;
    for (const t of ['upon', 'park', 'cat', 'Tim', 'played']) expect(user).toContain(t);
    expect(user).toContain('**Lily**(10)');
    expect(JSON.stringify(body)).not.toContain(KEY);
  });

  it('accepts the full chat/completions URL and sends no Authorization header without a key', async () => {
    const { server, endpoint } = await mock();
    const r = await interpretLatent({ ...endpoint, url: `${endpoint.url}/chat/completions`, key: '' }, contexts, opts);
    expect(r.explanation).toBe('the token "Lily"');
    expect(r.score).toBe(4);
    expect(server.requests[0].headers.authorization).toBeUndefined();
  });

  it('records fenced JSON, prose and a bad score per latent', async () => {
    const answers = ['```json\n{"explanation": "names", "score": 3, "polysemantic": false}\n```', 'The latent fires on names. Score: 2', '{"explanation": "names", "score": 9, "polysemantic": false}'];
    const { endpoint } = await mock((_b, i) => answers[i]);
    const a = await interpretLatent(endpoint, contexts, opts);
    expect(a).toMatchObject({ explanation: 'names', score: 3 });
    expect(a.error).toBeUndefined();
    const b = await interpretLatent(endpoint, contexts, opts);
    expect(b).toMatchObject({ explanation: 'The latent fires on names. Score: 2', score: 2 });
    const c = await interpretLatent(endpoint, contexts, opts);
    expect(c).toMatchObject({ explanation: 'names', score: null, error: 'the score 9 is outside 1–5' });
  });

  it('does not retry a 401 and says the key was refused', async () => {
    const { server, endpoint } = await mock(() => ({ status: 401, body: { error: { message: `Incorrect API key provided: ${KEY}` } } }));
    const err = await interpretLatent(endpoint, contexts, opts).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^the endpoint refused the key \(401\)/);
    expect((err as Error).message).not.toContain(KEY);
    expect(server.requests).toHaveLength(1);
  });

  it('does not retry other 4xx: the latent gets the error and the batch goes on', async () => {
    const { server, endpoint } = await mock((_b, i) => (i === 0 ? { status: 400, body: { error: { message: 'context too long' } } } : '{"explanation": "x", "score": 2, "polysemantic": false}'));
    const batch = await interpretLatents(endpoint, [{ latent: 1, contexts }, { latent: 2, contexts }], opts);
    expect(batch.results.map((r) => [r.latent, r.score, r.error])).toEqual([[1, null, 'the endpoint answered 400: context too long'], [2, 2, undefined]]);
    expect(server.requests).toHaveLength(2);
  });

  it('retries a 500 and a 429 with backoff, then succeeds', async () => {
    const replies: MockReply[] = [{ status: 500, body: 'oops' }, { status: 429, body: { error: { message: 'slow down' } }, headers: { 'Retry-After': '0.01' } }, '{"explanation": "ok", "score": 4, "polysemantic": false}'];
    const { server, endpoint } = await mock((_b, i) => replies[i]);
    const r = await interpretLatent(endpoint, contexts, opts);
    expect(r).toMatchObject({ explanation: 'ok', score: 4 });
    expect(server.requests).toHaveLength(3);
  });

  it('gives up after the retries with the last problem', async () => {
    const { server, endpoint } = await mock(() => ({ status: 503, body: { error: { message: 'overloaded' } } }));
    await expect(interpretLatent(endpoint, contexts, { ...opts, retries: 2 })).rejects.toThrow('the endpoint answered 503 Service Unavailable: overloaded (after 3 attempts)');
    expect(server.requests).toHaveLength(3);
  });

  it('retries network errors and reports an unreachable endpoint', async () => {
    const { server: s } = await mock();
    const url = s.url;
    await s.close();
    server = null;
    await expect(interpretLatent({ url, model: 'm', key: KEY }, contexts, { ...opts, retries: 1 })).rejects.toThrow(/could not reach 127\.0\.0\.1:\d+ .*CORS.*after 2 attempts/);
  });

  it('reports a wrong path (404) without retrying', async () => {
    const { server, endpoint } = await mock();
    await expect(interpretLatent({ ...endpoint, url: endpoint.url.replace('/v1', '/api') }, contexts, opts)).rejects.toThrow(/answered 404: check the URL/);
    expect(server.requests).toHaveLength(0);
  });

  it('does not call the endpoint for a latent without contexts', async () => {
    const { server, endpoint } = await mock();
    const r = await interpretLatent(endpoint, [], { ...opts, latent: 3 });
    expect(r.error).toMatch(/never fires/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('interpretLatents', () => {
  it('runs one request at a time and reports progress', async () => {
    let inFlight = 0;
    let most = 0;
    const { server, endpoint } = await mock(async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return '{"explanation": "e", "score": 3, "polysemantic": false}';
    });
    const progress: [number, number, number | null][] = [];
    const batch = await interpretLatents(endpoint, [4, 8, 15].map((latent) => ({ latent, contexts })), { ...opts, onProgress: (d, t, r) => progress.push([d, t, r?.latent ?? null]) });
    expect(batch.cancelled).toBe(false);
    expect(batch.results.map((r) => r.latent)).toEqual([4, 8, 15]);
    expect(most).toBe(1);
    expect(server.requests).toHaveLength(3);
    expect(progress).toEqual([[0, 3, null], [1, 3, 4], [2, 3, 8], [3, 3, 15]]);
  });

  it('stops at a refused key with its message', async () => {
    const { server, endpoint } = await mock(() => ({ status: 401, body: { error: { message: 'bad key' } } }));
    const batch = await interpretLatents(endpoint, [1, 2, 3].map((latent) => ({ latent, contexts })), opts);
    expect(batch).toEqual({ results: [], cancelled: false, error: 'the endpoint refused the key (401): bad key' });
    expect(server.requests).toHaveLength(1);
  });

  it('cancels a request in flight and starts no more', async () => {
    const ctrl = new AbortController();
    const { server, endpoint } = await mock(async (_b, i) => {
      if (i === 1) {
        ctrl.abort();
        await new Promise((r) => setTimeout(r, 2000));
      }
      return '{"explanation": "e", "score": 3, "polysemantic": false}';
    });
    const t0 = Date.now();
    const batch = await interpretLatents(endpoint, [1, 2, 3, 4].map((latent) => ({ latent, contexts })), { ...opts, signal: ctrl.signal });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(batch.cancelled).toBe(true);
    expect(batch.results.map((r) => r.latent)).toEqual([1]);
    expect(server.requests).toHaveLength(2);
  });

  it('cancels during a backoff wait', async () => {
    const ctrl = new AbortController();
    const { endpoint } = await mock(() => {
      setTimeout(() => ctrl.abort(), 20);
      return { status: 500, body: 'down' };
    });
    const batch = await interpretLatents(endpoint, [{ latent: 1, contexts }], { ...opts, backoffMs: 5000, signal: ctrl.signal });
    expect(batch).toEqual({ results: [], cancelled: true });
  });
});

describe('interpretationsExport', () => {
  it('has every result, the model and host, and never the key (even when the server echoes it)', async () => {
    const { endpoint } = await mock((_b, i) => (i === 0 ? `{"explanation": "echo ${KEY}", "score": 2, "polysemantic": false}` : 'nonsense'));
    const batch = await interpretLatents(endpoint, [{ latent: 5, contexts }, { latent: 2, contexts }], opts);
    const json = interpretationsExport(batch.results, { model: endpoint.model, url: endpoint.url, run: { id: 'run-1', architecture: 'topk', d_sae: 64, step: 200, dataset: 'resid.npy' } });
    const text = JSON.stringify(json);
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('SECRET');
    expect(text).not.toMatch(/authorization|bearer/i);
    expect(json.model).toBe('mock-model');
    expect(json.endpoint_host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(json.run).toEqual({ id: 'run-1', architecture: 'topk', d_sae: 64, step: 200, dataset: 'resid.npy' });
    expect(json.latents.map((l) => l.latent)).toEqual([2, 5]);
    expect(json.latents[1]).toMatchObject({ latent: 5, explanation: 'echo ***', score: 2, polysemantic: false });
    expect(json.latents[0]).toMatchObject({ latent: 2, score: null, error: expect.stringMatching(/no score/) });
  });
});
