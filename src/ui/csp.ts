// The page's Content-Security-Policy, built in one place for every way the app is served.
//
// A CSP cannot be relaxed once a page has one, and the only origin besides the page's own that the
// app ever contacts is the auto-interpretation endpoint the user names. So the policy is made of:
//
//  - a fixed part (scripts, styles, images, workers, frames, forms, base …), written into every
//    HTML page at build time as a <meta http-equiv> and sent as a response header by the dev and
//    preview servers (with frame-ancestors, which only a header can carry);
//  - connect-src, which lists the page's own origin, this machine (http://127.0.0.1:*,
//    http://localhost:*) and nothing else unless the user has allowed a remote endpoint's origin
//    in the Interpret panel. A small same-origin script (/csp.js, not inline: bootScript below)
//    runs before anything else in the page, reads the allowed origins from localStorage and adds
//    the whole policy with that connect-src as a second <meta http-equiv>. Allowing an origin
//    therefore takes a reload.
//
// Policies combine by intersection, so the fixed part carries neither default-src nor connect-src
// (either would forbid what the second meta allows): it lists every other fetch directive instead.
// The engine worker's script gets its own header in dev/preview (a worker does not inherit the
// page's policy): the whole policy with connect-src 'self'.
//
// Allowed origins are validated twice — here when they are stored, and in /csp.js when they are
// read back — against one pattern (ORIGIN_PATTERN): scheme http or https, a DNS name or IPv4
// address, an optional port. Nothing else reaches the policy (no wildcards, no schemes alone, no
// paths, no quotes or semicolons).

/** localStorage key of the allowed remote origins (a JSON array of origins). */
export const ALLOWED_ORIGINS_KEY = 'sae-workbench.allowedOrigins';
/** sessionStorage key of the endpoint URL and model kept across the reload that applies an allowance. */
export const PENDING_ENDPOINT_KEY = 'sae-workbench.pendingEndpoint';
/** Attribute of the boot script's meta element listing the origins its policy allows. */
export const ALLOWED_ATTR = 'data-allowed-origins';

/** The loopback sources: a local OpenAI-compatible server is the usual interpretation endpoint. */
export const LOOPBACK_SOURCES = ['http://127.0.0.1:*', 'http://localhost:*'] as const;
/** Vite's HMR websocket, in the dev server only. */
export const DEV_SOURCES = ['ws://127.0.0.1:*', 'ws://localhost:*'] as const;

/** What an allowed origin may look like: http(s), a lower-case DNS name or IPv4 address, an optional port. */
export const ORIGIN_PATTERN = '^https?://[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[0-9]{1,5})?$';
const ORIGIN_RE = new RegExp(ORIGIN_PATTERN);

/**
 * The origin of an http(s) URL or origin, as a CSP source expression, or null when it is not one
 * (another scheme, credentials in it, an IPv6 literal CSP cannot name, a wildcard, garbage).
 */
export function normalizeOrigin(input: unknown): string | null {
  if (typeof input !== 'string') return null;
  const text = input.trim();
  if (!text || text.includes('*')) return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password) return null;
  const origin = url.origin;
  return ORIGIN_RE.test(origin) ? origin : null;
}

/** Whether a URL is on this machine by the names the policy's loopback sources use. */
export function isLoopback(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'http:' || u.protocol === 'https:') && (u.hostname === '127.0.0.1' || u.hostname === 'localhost');
  } catch {
    return false;
  }
}

/** Valid, distinct origins of a stored list (anything else in it is dropped). */
export function parseAllowedOrigins(raw: string | null | undefined): string[] {
  if (!raw) return [];
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const item of list) {
    // Exactly the form normalizeOrigin gives: the boot script accepts no other.
    if (typeof item === 'string' && ORIGIN_RE.test(item) && normalizeOrigin(item) === item && !out.includes(item)) out.push(item);
  }
  return out;
}

export interface PolicyOptions {
  /**
   * full: the page's whole policy (the boot script's meta); fixed: all but default-src and
   * connect-src (the build-time meta); header: fixed + frame-ancestors (dev/preview responses);
   * worker: the whole policy with connect-src 'self' (the worker script's response).
   */
  part?: 'full' | 'fixed' | 'header' | 'worker';
  /** Remote origins the user allowed (full only); each must be what normalizeOrigin gives. */
  allowedOrigins?: readonly string[];
  /** The dev server: HMR websocket, and the hashes of the inline scripts it injects. */
  dev?: boolean;
  scriptHashes?: readonly string[];
}

/** The policy's directives in order, each with its sources. */
export function policyDirectives(opts: PolicyOptions = {}): [string, string[]][] {
  const part = opts.part ?? 'full';
  const allowed = opts.allowedOrigins ?? [];
  for (const o of allowed) if (normalizeOrigin(o) !== o) throw new Error(`not an origin: ${JSON.stringify(o)}`);
  if (part !== 'full' && allowed.length) throw new Error('allowed origins only go into the full policy');
  for (const h of opts.scriptHashes ?? []) if (!/^'sha256-[A-Za-z0-9+/]{43}='$/.test(h)) throw new Error(`not a script hash: ${h}`);
  const connect = part === 'worker' ? ["'self'"] : ["'self'", ...LOOPBACK_SOURCES, ...(opts.dev ? DEV_SOURCES : []), ...allowed];
  const d: [string, string[]][] = [];
  if (part === 'full' || part === 'worker') d.push(['default-src', ["'self'"]]);
  // 'wasm-unsafe-eval' compiles tfjs's WebAssembly; no 'unsafe-eval', no inline scripts (the dev
  // server's React-refresh preamble is allowed by its hash).
  // Workers also get blob:: tfjs-backend-wasm's threaded build starts each pthread worker from a
  // blob and has it importScripts the engine's glue code from another blob (both made by tfjs in
  // the engine worker, never from page content); without it the thread pool never starts.
  d.push(['script-src', ["'self'", "'wasm-unsafe-eval'", ...(part === 'worker' ? ['blob:'] : []), ...(opts.dev ? opts.scriptHashes ?? [] : [])]]);
  // Plotly sets style attributes and adds <style> rules; Vite's dev server adds <style> elements.
  d.push(['style-src', ["'self'", "'unsafe-inline'"]]);
  d.push(['img-src', ["'self'", 'data:', 'blob:']]);
  d.push(['font-src', ["'self'"]]);
  if (part === 'full' || part === 'worker') d.push(['connect-src', connect]);
  d.push(['media-src', ["'none'"]]);
  d.push(['object-src', ["'none'"]]);
  d.push(['frame-src', ["'none'"]]);
  d.push(['worker-src', ["'self'", 'blob:']]);
  d.push(['manifest-src', ["'self'"]]);
  d.push(['base-uri', ["'none'"]]);
  d.push(['form-action', ["'none'"]]);
  if (part === 'header') d.push(['frame-ancestors', ["'none'"]]);
  return d;
}

/** The policy as the text of a header or a meta element's content. */
export function buildPolicy(opts: PolicyOptions = {}): string {
  return policyDirectives(opts).map(([name, sources]) => `${name} ${sources.join(' ')}`).join('; ');
}

/** Placeholder of the allowed origins in the boot script's policy template. */
const SLOT = 'https://allowed.invalid';

/**
 * The source of /csp.js: a classic script, loaded by every page before anything else, that adds
 * the full policy with the allowed origins read from localStorage as a <meta http-equiv>. It
 * re-checks every stored entry against ORIGIN_PATTERN, so a tampered list cannot widen the policy.
 */
export function bootScript(opts: { dev?: boolean; scriptHashes?: readonly string[] } = {}): string {
  const template = buildPolicy({ part: 'full', dev: opts.dev, scriptHashes: opts.scriptHashes, allowedOrigins: [SLOT] });
  const [before, after] = template.split(` ${SLOT}`);
  return `// SAE Workbench: the page's Content-Security-Policy, with the interpretation endpoints the user allowed (src/ui/csp.ts).
(function () {
  var re = new RegExp(${JSON.stringify(ORIGIN_PATTERN)});
  var allowed = [];
  try {
    var list = JSON.parse(window.localStorage.getItem(${JSON.stringify(ALLOWED_ORIGINS_KEY)}) || '[]');
    if (Object.prototype.toString.call(list) === '[object Array]') {
      for (var i = 0; i < list.length; i++) {
        var o = list[i];
        if (typeof o === 'string' && re.test(o) && allowed.indexOf(o) < 0) allowed.push(o);
      }
    }
  } catch (e) { allowed = []; }
  var meta = document.createElement('meta');
  meta.setAttribute('http-equiv', 'Content-Security-Policy');
  meta.setAttribute('content', ${JSON.stringify(before)} + (allowed.length ? ' ' + allowed.join(' ') : '') + ${JSON.stringify(after)});
  meta.setAttribute(${JSON.stringify(ALLOWED_ATTR)}, allowed.join(' '));
  document.head.appendChild(meta);
})();
`;
}

// ---- In the page ---------------------------------------------------------------------------------

/**
 * The remote origins the page's policy allows now (from the boot script's meta), or null when the
 * page has no such meta (the boot script did not run: then nothing but the page's own origin and
 * this machine is treated as allowed).
 */
export function activeAllowedOrigins(doc: Document = document): string[] | null {
  const meta = doc.querySelector(`meta[http-equiv="Content-Security-Policy"][${ALLOWED_ATTR}]`);
  if (!meta) return null;
  return (meta.getAttribute(ALLOWED_ATTR) ?? '').split(' ').filter((o) => o && normalizeOrigin(o) === o);
}

/** The remote origins stored for the next load (what the Allow / Remove buttons change). */
export function storedAllowedOrigins(): string[] {
  try {
    return parseAllowedOrigins(localStorage.getItem(ALLOWED_ORIGINS_KEY));
  } catch {
    return [];
  }
}

export function storeAllowedOrigins(origins: readonly string[]): void {
  const clean = parseAllowedOrigins(JSON.stringify(origins));
  if (clean.length) localStorage.setItem(ALLOWED_ORIGINS_KEY, JSON.stringify(clean));
  else localStorage.removeItem(ALLOWED_ORIGINS_KEY);
}

/** Whether the page's policy lets it send requests to `url`: its own origin, this machine, or allowed. */
export function endpointPermitted(url: string, pageOrigin: string = location.origin, active: string[] | null = activeAllowedOrigins()): boolean {
  const origin = normalizeOrigin(url);
  if (!origin) return false;
  if (origin === pageOrigin || isLoopback(url)) return true;
  return (active ?? []).includes(origin);
}
