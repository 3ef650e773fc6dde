// Auto-interpretation of latents (docs/features.md): the top contexts of a latent
// go to an OpenAI-compatible chat endpoint, which answers with a short explanation, a 1–5 score of
// how well one explanation fits the contexts, and whether the latent looks polysemantic.
//
// DOM-free and React-free: `fetch` is injected, so the same code runs in the page and in Node tests.
// The API key only ever goes into the `Authorization: Bearer` header of a request: it is never put
// in a result, an error message, the export or a log (text coming back from the endpoint is
// scrubbed of it too, in case a server echoes it).
//
// The URL may be the API's base, as the OpenAI SDK's `base_url` (`http://127.0.0.1:8000/v1`), or the
// full chat-completions URL: `/chat/completions` is appended unless the URL already ends with it.

/** Where to send the contexts. The key stays in memory; `key` may be empty (local servers). */
export interface InterpretEndpoint {
  url: string;
  model: string;
  key: string;
}

/** A token window with the latent's activation on each token; `centre` = index of the top token. */
export interface InterpretContext {
  tokens: string[];
  values: number[];
  centre: number;
}

export interface InterpretResult {
  latent: number;
  /** One sentence; '' when none could be read from the answer. */
  explanation: string;
  /** Integer 1..5 (5 = one explanation clearly fits every context), null when the answer had none usable. */
  score: number | null;
  polysemantic: boolean;
  /** The model's answer as received (with the key scrubbed out). */
  raw?: string;
  /** What went wrong for this latent (unreadable answer, bad score, refused request). */
  error?: string;
}

/** Request settings: at most 20 contexts per latent, short deterministic answers, 3 retries. */
export const MAX_CONTEXTS = 20;
export const MAX_TOKENS = 128;
export const TEMPERATURE = 0.1;
export const RETRIES = 3;
/** Tokens kept before / after the top token of each context in the prompt. */
export const WINDOW_BEFORE = 12;
export const WINDOW_AFTER = 4;
/** A request that has not answered after this long counts as a network failure (and is retried). */
export const REQUEST_TIMEOUT_MS = 60_000;

/** A failure that ends a batch: the key was refused, the endpoint is unreachable or keeps failing. */
export class EndpointError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'EndpointError';
  }
}

/** A failure of one latent's request (a 400, an answer that is not a chat completion): the batch goes on. */
class ResponseError extends Error {}

// ---- URL ----------------------------------------------------------------------------------------

/** The chat-completions URL of a base URL (`…/v1`) or of a full one; throws on what is not http(s). */
export function chatCompletionsUrl(url: string): string {
  const trimmed = url.trim();
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new EndpointError(`"${trimmed}" is not a URL; give the API's base URL, e.g. http://127.0.0.1:8000/v1`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new EndpointError(`the endpoint URL must start with http:// or https:// (got ${parsed.protocol})`);
  if (parsed.username || parsed.password) throw new EndpointError('put the API key in the key field, not in the URL');
  const path = parsed.pathname.replace(/\/+$/, '');
  parsed.pathname = /\/chat\/completions$/.test(path) ? path : `${path}/chat/completions`;
  return parsed.toString();
}

/** The host of an endpoint URL (what the export records about where the contexts went). */
export function endpointHost(url: string): string {
  try {
    return new URL(url.trim()).host;
  } catch {
    return '';
  }
}

// ---- prompt -------------------------------------------------------------------------------------

export const SYSTEM_PROMPT = 'You are an interpretability researcher. You explain what a latent (a feature) of a sparse autoencoder detects, from text where it fires. You answer with one JSON object and nothing else.';

/** A token as it appears in a snippet: SentencePiece `▁` as a space, line breaks and tabs made visible. */
function showToken(t: string): string {
  return t.replace(/▁/g, ' ').replace(/<0x0A>/g, '\\n').replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t').replace(/<0x09>/g, '\\t');
}

/**
 * One snippet line: the tokens around the top one (`before` / `after` of them), every token where
 * the latent is active followed by its activation on a 1–10 scale (10 = the strongest over all
 * snippets) in parentheses, the top token wrapped in `**`. Leading spaces stay outside the marks.
 */
function snippet(c: InterpretContext, scale: number, before: number, after: number): string {
  const from = Math.max(0, c.centre - before);
  const to = Math.min(c.tokens.length, c.centre + after + 1);
  let text = '';
  for (let i = from; i < to; i++) {
    const shown = showToken(c.tokens[i] ?? '');
    const v = c.values[i] ?? 0;
    const marked = i === c.centre || v > 0;
    let lead = /^\s*/.exec(shown)![0];
    let core = shown.slice(lead.length);
    if (!core && marked) { core = '␣'; lead = ''; } // a whitespace token that has to carry a mark
    text += lead + (i === c.centre ? `**${core}**` : core) + (v > 0 ? `(${Math.max(1, Math.min(10, Math.round((10 * v) / scale)))})` : '');
  }
  return text.trim();
}

/** The contexts that go into a prompt: the strongest `max` of them, strongest first. */
export function promptContexts(contexts: readonly InterpretContext[], max = MAX_CONTEXTS): InterpretContext[] {
  const top = (c: InterpretContext) => c.values[c.centre] ?? 0;
  return [...contexts].filter((c) => c.tokens.length > 0).sort((a, b) => top(b) - top(a)).slice(0, max);
}

/** The user message for one latent's contexts. */
export function buildPrompt(contexts: readonly InterpretContext[], opts: { maxContexts?: number; before?: number; after?: number } = {}): string {
  const chosen = promptContexts(contexts, opts.maxContexts ?? MAX_CONTEXTS);
  const scale = Math.max(1e-12, ...chosen.map((c) => Math.max(0, ...c.values)));
  const lines = chosen.map((c, i) => `${i + 1}. ${snippet(c, scale, opts.before ?? WINDOW_BEFORE, opts.after ?? WINDOW_AFTER)}`);
  return [
    `Below are ${chosen.length} text snippets in which one latent of a sparse autoencoder (trained on a language model's activations) fires.`,
    'In each snippet the token where the latent fires most strongly is wrapped in ** **, and every token where the latent is active is followed by its activation in parentheses, on a scale of 1 to 10 (10 = the strongest activation over all snippets).',
    '',
    'Snippets:',
    ...lines,
    '',
    'What common theme or concept does this latent detect? Look at the marked tokens and at the text right before them.',
    'If the snippets have no common theme, say "Polysemantic" in the explanation and set "polysemantic" to true.',
    '',
    'Answer with this JSON object and nothing else:',
    '{"explanation": "<one short sentence>", "score": <integer 1-5: how well your explanation fits all snippets; 5 = every snippet clearly fits, 1 = no common theme>, "polysemantic": <true or false>}',
  ].join('\n');
}

/** The request body sent to `…/chat/completions`. */
export function requestBody(model: string, contexts: readonly InterpretContext[]) {
  return {
    model,
    messages: [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: buildPrompt(contexts) },
    ],
    max_tokens: MAX_TOKENS,
    temperature: TEMPERATURE,
  };
}

// ---- parsing the answer -------------------------------------------------------------------------

export interface ParsedExplanation {
  explanation: string;
  score: number | null;
  polysemantic: boolean;
  /** Why the answer is not fully usable (no JSON, no or bad score, no explanation). */
  error?: string;
}

/** Every balanced `{…}` in `text` (strings and escapes respected), outermost first. */
function jsonObjects(text: string): string[] {
  const found: string[] = [];
  for (let start = text.indexOf('{'); start !== -1; start = text.indexOf('{', start + 1)) {
    let depth = 0;
    let inString = false;
    for (let i = start; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (ch === '\\') i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = true;
      else if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0) {
        found.push(text.slice(start, i + 1));
        break;
      }
    }
  }
  return found;
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  const candidates = [text.trim(), ...[...text.matchAll(/```[a-zA-Z]*\s*\n?([\s\S]*?)```/g)].map((m) => m[1].trim()), ...jsonObjects(text)];
  for (const c of candidates) {
    try {
      const v = JSON.parse(c) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch { /* try the next candidate */ }
  }
  return null;
}

function asBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|yes)$/i.test(v.trim())) return true;
  if (typeof v === 'string' && /^(false|no)$/i.test(v.trim())) return false;
  return undefined;
}

/** A score as an integer 1..5: numbers (or numeric strings) in [1, 5] are rounded; anything else is an error. */
export function validScore(v: unknown): { score: number | null; error?: string } {
  if (v === undefined || v === null || v === '') return { score: null, error: 'the answer has no score' };
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*(\/\s*5\s*)?$/.test(v) ? parseFloat(v) : NaN;
  if (!Number.isFinite(n)) return { score: null, error: `the score ${JSON.stringify(v)} is not a number` };
  if (n < 1 || n > 5) return { score: null, error: `the score ${n} is outside 1–5` };
  return { score: Math.round(n) };
}

/**
 * The explanation, score and polysemantic flag of a model's answer: strict JSON, JSON inside code
 * fences or surrounded by prose, and as a last resort `score: N` / `explanation: …` in plain text.
 * Accepts the field names `description` and `similarity_score` too.
 */
export function parseExplanation(text: string): ParsedExplanation {
  const obj = parseJsonObject(text);
  if (obj) {
    const rawExplanation = obj.explanation ?? obj.description ?? obj.theme ?? obj.concept;
    const explanation = typeof rawExplanation === 'string' ? rawExplanation.trim() : '';
    const { score, error } = validScore(obj.score ?? obj.similarity_score ?? obj.rating);
    const polysemantic = asBoolean(obj.polysemantic) ?? /^\s*polysemantic\b/i.test(explanation);
    const problems = [explanation ? null : 'the answer has no explanation', error].filter(Boolean);
    return { explanation, score, polysemantic, ...(problems.length ? { error: problems.join('; ') } : {}) };
  }
  // Prose: "score: 4", "Explanation: …", "Polysemantic".
  const scoreMatch = /["']?\b(?:score|similarity_score|rating)\b["']?\s*[:=]\s*["']?([^\s,"'}]+)/i.exec(text);
  const explanationMatch = /["']?\b(?:explanation|description)\b["']?\s*[:=]\s*("((?:[^"\\]|\\.)*)"|[^\n]+)/i.exec(text);
  const polyMatch = /["']?\bpolysemantic\b["']?\s*[:=]\s*["']?(true|false|yes|no)\b/i.exec(text);
  let explanation = explanationMatch ? (explanationMatch[2] ?? explanationMatch[1]).trim() : '';
  if (!explanation) {
    // The first line that is not the score line.
    explanation = text.split('\n').map((l) => l.trim()).find((l) => l && !/^["']?(score|similarity_score|rating)\b/i.test(l) && !/^["']?polysemantic["']?\s*[:=]\s*["']?(true|false|yes|no)\b/i.test(l)) ?? '';
  }
  explanation = explanation.replace(/[,}\s]+$/, '').slice(0, 500);
  const { score, error } = scoreMatch ? validScore(scoreMatch[1].replace(/[.;]$/, '')) : validScore(undefined);
  const polysemantic = polyMatch ? asBoolean(polyMatch[1])! : /^\s*polysemantic\b/i.test(explanation);
  const problems = [explanation ? null : 'the answer has no explanation', error].filter(Boolean);
  return { explanation, score, polysemantic, ...(problems.length ? { error: `the answer is not JSON: ${problems.join('; ')}` } : {}) };
}

// ---- requests -----------------------------------------------------------------------------------

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal }) => Promise<{
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

export interface InterpretOptions {
  fetch: FetchLike;
  signal?: AbortSignal;
  /** Retries after the first attempt on network errors, 429 and 5xx (default 3). */
  retries?: number;
  /** First backoff delay; doubled on each retry (default 1 s). A 429's Retry-After (≤ 30 s) wins. */
  backoffMs?: number;
  timeoutMs?: number;
  latent?: number;
}

function abortError(): Error {
  const e = new Error('cancelled');
  e.name = 'AbortError';
  return e;
}

export const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(abortError()); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `text` with every occurrence of the key replaced (servers may echo what they were sent). */
function scrub(text: string, key: string): string {
  return key.length >= 4 ? text.split(key).join('***') : text;
}

/** A short message from an error body (`{"error": {"message": …}}` or text), scrubbed and cut. */
function bodyMessage(body: string, key: string): string {
  let message = body;
  try {
    const v = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
    const m = typeof v.error === 'string' ? v.error : v.error?.message ?? v.message ?? v.detail;
    if (typeof m === 'string') message = m;
  } catch { /* plain text */ }
  message = scrub(message.replace(/\s+/g, ' ').trim(), key);
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

/** The answer text of an OpenAI-shaped chat completion, or null. */
function answerText(body: unknown): string | null {
  const choice = (body as { choices?: { message?: { content?: unknown }; text?: unknown }[] } | null)?.choices?.[0];
  const content = choice?.message?.content ?? choice?.text;
  if (typeof content === 'string') return content;
  // Some servers send content parts: [{type: 'text', text: '…'}].
  if (Array.isArray(content)) return content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
  return null;
}

/** POST one chat completion, with retries on network errors, timeouts, 429 and 5xx. Returns the answer text. */
async function complete(endpoint: InterpretEndpoint, body: unknown, opts: InterpretOptions): Promise<string> {
  const url = chatCompletionsUrl(endpoint.url);
  const retries = opts.retries ?? RETRIES;
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (endpoint.key) headers.Authorization = `Bearer ${endpoint.key}`;
  const payload = JSON.stringify(body);
  let lastProblem = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (opts.signal?.aborted) throw abortError();
    let wait = (opts.backoffMs ?? 1000) * 2 ** attempt;
    // One controller per attempt: the caller's cancel and the timeout both end it.
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ctrl.abort(); }, opts.timeoutMs ?? REQUEST_TIMEOUT_MS);
    try {
      const res = await opts.fetch(url, { method: 'POST', headers, body: payload, signal: ctrl.signal });
      const text = await res.text();
      if (res.ok) {
        let parsed: unknown;
        try { parsed = JSON.parse(text); } catch { throw new ResponseError(`the endpoint's answer is not JSON: ${bodyMessage(text, endpoint.key)}`); }
        const answer = answerText(parsed);
        if (answer === null) throw new ResponseError('the endpoint\'s answer has no choices[0].message.content (is it an OpenAI-compatible chat endpoint?)');
        return answer;
      }
      const detail = bodyMessage(text, endpoint.key);
      if (res.status === 401 || res.status === 403) throw new EndpointError(`the endpoint refused the key (${res.status})${detail ? `: ${detail}` : ''}`, res.status);
      if (res.status === 404 || res.status === 405) throw new EndpointError(`POST ${url} answered ${res.status}: check the URL (it should be the API's base, e.g. http://127.0.0.1:8000/v1)${detail ? ` — ${detail}` : ''}`, res.status);
      if (res.status !== 429 && res.status < 500) throw new ResponseError(`the endpoint answered ${res.status}${detail ? `: ${detail}` : ''}`);
      lastProblem = `the endpoint answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${detail ? `: ${detail}` : ''}`;
      const after = Number(res.headers.get('retry-after'));
      if (res.status === 429 && Number.isFinite(after) && after > 0) wait = Math.min(30_000, after * 1000);
    } catch (e) {
      if (e instanceof EndpointError || e instanceof ResponseError) throw e;
      if (opts.signal?.aborted) throw abortError();
      // fetch rejects with a TypeError for network errors, and for CORS refusals in a browser.
      lastProblem = timedOut ? `no answer within ${Math.round((opts.timeoutMs ?? REQUEST_TIMEOUT_MS) / 1000)} s` : `could not reach ${new URL(url).host} (${scrub(e instanceof Error ? e.message : String(e), endpoint.key)}): is the server running, and does it allow this page's origin (CORS)?`;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
    if (attempt < retries) await sleep(wait, opts.signal);
  }
  throw new EndpointError(`${lastProblem} (after ${retries + 1} attempts)`);
}

/**
 * Explain one latent. Answers that cannot be read, bad scores and per-request refusals (e.g. 400)
 * come back as a result with `error`; a refused key, an unreachable endpoint and a cancel throw
 * (EndpointError / AbortError), since every further request would fail the same way.
 */
export async function interpretLatent(endpoint: InterpretEndpoint, contexts: readonly InterpretContext[], opts: InterpretOptions): Promise<InterpretResult> {
  const latent = opts.latent ?? -1;
  if (!endpoint.model.trim()) throw new EndpointError('give the model name the endpoint serves');
  if (promptContexts(contexts).length === 0) return { latent, explanation: '', score: null, polysemantic: false, error: 'the latent never fires on the loaded rows (no contexts to explain)' };
  let raw: string;
  try {
    raw = scrub(await complete(endpoint, requestBody(endpoint.model.trim(), contexts), opts), endpoint.key);
  } catch (e) {
    if (e instanceof ResponseError) return { latent, explanation: '', score: null, polysemantic: false, error: e.message };
    throw e;
  }
  const parsed = parseExplanation(raw);
  return { latent, explanation: parsed.explanation, score: parsed.score, polysemantic: parsed.polysemantic, raw, ...(parsed.error ? { error: parsed.error } : {}) };
}

export interface InterpretBatch {
  results: InterpretResult[];
  cancelled: boolean;
  /** Why the batch stopped early (refused key, unreachable endpoint). */
  error?: string;
}

/** Explain latents one after another (never in parallel), reporting each result as it comes. */
export async function interpretLatents(
  endpoint: InterpretEndpoint,
  items: readonly { latent: number; contexts: readonly InterpretContext[] }[],
  opts: InterpretOptions & { onProgress?: (done: number, total: number, result: InterpretResult | null) => void },
): Promise<InterpretBatch> {
  const results: InterpretResult[] = [];
  opts.onProgress?.(0, items.length, null);
  for (const item of items) {
    if (opts.signal?.aborted) return { results, cancelled: true };
    try {
      const r = await interpretLatent(endpoint, item.contexts, { ...opts, latent: item.latent });
      results.push(r);
      opts.onProgress?.(results.length, items.length, r);
    } catch (e) {
      if (isAbort(e) || opts.signal?.aborted) return { results, cancelled: true };
      return { results, cancelled: false, error: e instanceof Error ? e.message : String(e) };
    }
  }
  return { results, cancelled: false };
}

// ---- choosing latents ---------------------------------------------------------------------------

/** The `n` alive latents with the highest max activation. */
export function topLatents(maxActivation: ArrayLike<number>, density: ArrayLike<number>, n: number): number[] {
  const ids = Array.from({ length: maxActivation.length }, (_, i) => i).filter((i) => density[i] > 0);
  return ids.sort((a, b) => maxActivation[b] - maxActivation[a] || a - b).slice(0, Math.max(0, Math.floor(n)));
}

/** "3, 7, 12-15" → [3, 7, 12, 13, 14, 15] (unique, in the order given), or a message saying what is wrong. */
export function parseLatentList(text: string, dSae: number, max = 1000): number[] | string {
  const out: number[] = [];
  const parts = text.split(/[,\s]+/).filter(Boolean);
  if (!parts.length) return 'list latents, e.g. 3, 7, 12-15';
  for (const p of parts) {
    const m = /^(\d+)(?:\s*[-–]\s*(\d+))?$/.exec(p);
    if (!m) return `"${p}" is not a latent or a range like 12-15`;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return `the range ${p} runs backwards`;
    if (b >= dSae) return `latent ${b} does not exist (d_sae ${dSae})`;
    for (let j = a; j <= b; j++) if (!out.includes(j)) out.push(j);
    if (out.length > max) return `more than ${max} latents`;
  }
  return out;
}

// ---- export -------------------------------------------------------------------------------------

export interface InterpretMeta {
  model: string;
  /** The endpoint URL: only its host is exported. */
  url: string;
  run?: { id?: string; architecture?: string; d_sae?: number; step?: number; dataset?: string };
  created?: string;
}

/**
 * The results as JSON-ready data. Built field by field from the results and the meta's model, host
 * and run: there is no key or header here to leak (results are scrubbed when made).
 */
export function interpretationsExport(results: readonly InterpretResult[], meta: InterpretMeta) {
  return {
    format: 'sae-workbench-interpretations',
    version: 1,
    created: meta.created ?? new Date().toISOString(),
    model: meta.model,
    endpoint_host: endpointHost(meta.url),
    settings: { max_contexts: MAX_CONTEXTS, window_before: WINDOW_BEFORE, window_after: WINDOW_AFTER, max_tokens: MAX_TOKENS, temperature: TEMPERATURE },
    ...(meta.run ? { run: { ...meta.run } } : {}),
    latents: [...results].sort((a, b) => a.latent - b.latent).map((r) => ({
      latent: r.latent,
      explanation: r.explanation,
      score: r.score,
      polysemantic: r.polysemantic,
      ...(r.error ? { error: r.error } : {}),
      ...(r.raw !== undefined ? { raw: r.raw } : {}),
    })),
  };
}
