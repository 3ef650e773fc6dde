// A small OpenAI-compatible chat endpoint on 127.0.0.1 for tests (unit and browser): POST
// /v1/chat/completions answers in the OpenAI response shape, every request is recorded (method,
// path, headers, parsed body), and CORS is open so that a page on another origin can call it.
// Node only (node:http); never imported by the app.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The JSON body (null when it was not JSON). */
  body: unknown;
}

/** What `reply` returns: the assistant's message text, or a whole response (status and body). */
export type MockReply = string | { status: number; body: unknown; headers?: Record<string, string> };

export interface MockChatServer {
  /** Base URL, e.g. http://127.0.0.1:43117/v1 */
  url: string;
  /** Chat requests received (POSTs; preflights are not listed). */
  requests: MockRequest[];
  close(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'POST, OPTIONS',
  'Access-Control-Allow-Headers': 'authorization, content-type',
  'Access-Control-Expose-Headers': 'retry-after',
  // Chromium's private network access checks (a public page calling a local server).
  'Access-Control-Allow-Private-Network': 'true',
  'Access-Control-Max-Age': '600',
};

/** A default explanation: the first marked top token of the prompt, scored 4. */
function defaultReply(body: unknown): string {
  const messages = (body as { messages?: { content?: string }[] } | null)?.messages ?? [];
  const prompt = messages.map((m) => m.content ?? '').join('\n');
  const top = /^\d+\. .*?\*\*(.+?)\*\*/m.exec(prompt)?.[1] ?? 'something';
  return JSON.stringify({ explanation: `the token "${top}"`, score: 4, polysemantic: false });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...CORS, 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Start the mock on 127.0.0.1 (a free port). `reply(body, index)` decides each answer (index = the
 * request's 0-based number); by default every latent is "the token" marked in its prompt, score 4.
 */
export async function startMockChatServer(opts: { reply?: (body: unknown, index: number) => MockReply | Promise<MockReply> } = {}): Promise<MockChatServer> {
  const requests: MockRequest[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, CORS);
        res.end();
        return;
      }
      const path = (req.url ?? '/').split('?')[0];
      const text = await readBody(req);
      let body: unknown = null;
      try { body = JSON.parse(text); } catch { /* recorded as null */ }
      if (req.method !== 'POST' || path !== '/v1/chat/completions') {
        send(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error' } });
        return;
      }
      const index = requests.length;
      requests.push({ method: req.method, path, headers: { ...req.headers }, body });
      const out = opts.reply ? await opts.reply(body, index) : defaultReply(body);
      if (typeof out !== 'string') {
        send(res, out.status, out.body, out.headers);
        return;
      }
      send(res, 200, {
        id: `chatcmpl-mock-${index}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: (body as { model?: string } | null)?.model ?? 'mock',
        choices: [{ index: 0, message: { role: 'assistant', content: out }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      });
    })().catch((e) => {
      if (!res.headersSent) send(res, 500, { error: { message: String(e) } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}
