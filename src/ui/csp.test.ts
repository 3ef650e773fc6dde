// The Content-Security-Policy builder and the boot script (/csp.js) that applies the user's allowed
// interpretation endpoints: only well-formed http(s) origins ever reach connect-src, never a
// wildcard, a bare scheme, a path or anything that could end a directive.
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  ALLOWED_ATTR, ALLOWED_ORIGINS_KEY, bootScript, buildPolicy, endpointPermitted, isLoopback, normalizeOrigin, parseAllowedOrigins, policyDirectives,
} from './csp';

/** Run the boot script against a fake page whose localStorage holds `stored`; its meta element's attributes. */
function runBoot(stored: string | null, opts: Parameters<typeof bootScript>[0] = {}): Record<string, string> {
  const attrs: Record<string, string> = {};
  let appended = 0;
  const document = {
    createElement: (tag: string) => {
      expect(tag).toBe('meta');
      return { setAttribute: (k: string, v: string) => { attrs[k] = v; } };
    },
    head: { appendChild: () => { appended++; } },
  };
  const localStorage = { getItem: (k: string) => (k === ALLOWED_ORIGINS_KEY ? stored : null) };
  runInNewContext(bootScript(opts), { window: { localStorage }, document });
  expect(appended).toBe(1);
  return attrs;
}

const BAD = [
  '*', 'https:', 'http:', 'https://*', 'https://*.example.com', 'https://example.com:*', "'self'", "'unsafe-inline'", 'data:', 'blob:',
  'javascript:alert(1)', 'ftp://example.com', 'ws://example.com', 'wss://example.com', 'file:///etc/passwd', 'example.com',
  'https://example.com; script-src *', 'https://example.com https://evil.com', 'https://user:pw@example.com', 'https://[::1]:8000',
  'https://example.com/path', 'HTTPS://EXAMPLE.COM', ' https://example.com', '', 'https://ex ample.com',
];

describe('normalizeOrigin', () => {
  it('gives the origin of http(s) URLs', () => {
    expect(normalizeOrigin('https://api.example.com/v1/chat/completions')).toBe('https://api.example.com');
    expect(normalizeOrigin('HTTPS://API.Example.COM:443/v1')).toBe('https://api.example.com');
    expect(normalizeOrigin('http://10.1.2.3:8080')).toBe('http://10.1.2.3:8080');
    expect(normalizeOrigin('http://127.0.0.1:8000/v1')).toBe('http://127.0.0.1:8000');
    expect(normalizeOrigin('https://bücher.example/v1')).toBe('https://xn--bcher-kva.example');
  });
  it('rejects other schemes, credentials, wildcards, IPv6 literals and garbage', () => {
    for (const bad of ['*', 'https://*.example.com', 'javascript:alert(1)', 'ftp://example.com', 'ws://example.com', 'data:text/html,x', 'blob:https://x/y',
      'https://user:pw@example.com', 'http://[::1]:8000/v1', 'not a url', '', 'https://', 'example.com']) {
      expect(normalizeOrigin(bad), bad).toBeNull();
    }
    expect(normalizeOrigin(42)).toBeNull();
    expect(normalizeOrigin(null)).toBeNull();
  });
});

describe('parseAllowedOrigins', () => {
  it('keeps only distinct origins in their normal form', () => {
    expect(parseAllowedOrigins(JSON.stringify(['https://a.example', 'https://a.example', 'http://b.example:8080', ...BAD, 3, null, ['x']]))).toEqual(['https://a.example', 'http://b.example:8080']);
    expect(parseAllowedOrigins('not json')).toEqual([]);
    expect(parseAllowedOrigins('{"0":"https://a.example"}')).toEqual([]);
    expect(parseAllowedOrigins(null)).toEqual([]);
  });
});

describe('buildPolicy', () => {
  it('is the strict policy by default', () => {
    expect(buildPolicy()).toBe(
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; "
      + "connect-src 'self' http://127.0.0.1:* http://localhost:*; media-src 'none'; object-src 'none'; frame-src 'none'; worker-src 'self' blob:; "
      + "manifest-src 'self'; base-uri 'none'; form-action 'none'",
    );
  });
  it('adds allowed origins to connect-src only', () => {
    const d = new Map(policyDirectives({ allowedOrigins: ['https://api.example.com', 'http://10.1.2.3:8080'] }));
    expect(d.get('connect-src')).toEqual(["'self'", 'http://127.0.0.1:*', 'http://localhost:*', 'https://api.example.com', 'http://10.1.2.3:8080']);
    for (const [name, sources] of d) if (name !== 'connect-src') expect(sources.join(' '), name).not.toContain('example');
  });
  it('refuses anything that is not an origin in normal form', () => {
    for (const bad of BAD) expect(() => buildPolicy({ allowedOrigins: [bad] }), bad).toThrow();
    expect(() => buildPolicy({ part: 'fixed', allowedOrigins: ['https://api.example.com'] })).toThrow();
    expect(() => buildPolicy({ dev: true, scriptHashes: ["'unsafe-inline'"] })).toThrow();
  });
  it('never has wildcards, eval or inline scripts', () => {
    for (const part of ['full', 'fixed', 'header', 'worker'] as const) {
      for (const dev of [false, true]) {
        const policy = buildPolicy({ part, dev, allowedOrigins: part === 'full' ? ['https://api.example.com'] : [] });
        const sources = policy.split(';').flatMap((d) => d.trim().split(/\s+/).slice(1));
        for (const s of sources) {
          expect(s, policy).not.toMatch(/^(\*|https?:|wss?:|https?:\/\/\*|'unsafe-eval')$/);
          if (s.includes('*')) expect(['http://127.0.0.1:*', 'http://localhost:*', 'ws://127.0.0.1:*', 'ws://localhost:*']).toContain(s);
        }
        expect(new Map(policyDirectives({ part, dev })).get('script-src')).not.toContain("'unsafe-inline'");
      }
    }
  });
  it('splits into a fixed part (meta), a header and a worker policy', () => {
    const fixed = new Map(policyDirectives({ part: 'fixed' }));
    expect(fixed.has('default-src')).toBe(false); // either would forbid what the boot script's meta allows
    expect(fixed.has('connect-src')).toBe(false);
    expect(fixed.has('frame-ancestors')).toBe(false); // ignored (with a warning) in a meta element
    const header = new Map(policyDirectives({ part: 'header' }));
    expect(header.get('frame-ancestors')).toEqual(["'none'"]);
    expect(header.has('connect-src')).toBe(false);
    expect(new Map(policyDirectives({ part: 'worker' })).get('connect-src')).toEqual(["'self'"]);
    // blob: scripts only in workers (tfjs-backend-wasm's thread workers load their glue from blobs),
    // never on the page.
    expect(new Map(policyDirectives({ part: 'worker' })).get('script-src')).toContain('blob:');
    for (const part of ['full', 'fixed', 'header'] as const) expect(new Map(policyDirectives({ part })).get('script-src'), part).not.toContain('blob:');
    expect(new Map(policyDirectives({ part: 'full' })).has('frame-ancestors')).toBe(false);
    // Every fetch directive but connect-src is in the fixed part, so nothing falls back to no restriction.
    for (const d of ['script-src', 'style-src', 'img-src', 'font-src', 'media-src', 'object-src', 'frame-src', 'worker-src', 'manifest-src']) expect(fixed.has(d), d).toBe(true);
  });
  it('lets the dev server use its HMR websocket and its inline preamble by hash', () => {
    const hash = `'sha256-${'A'.repeat(43)}='`;
    const d = new Map(policyDirectives({ dev: true, scriptHashes: [hash] }));
    expect(d.get('connect-src')).toEqual(["'self'", 'http://127.0.0.1:*', 'http://localhost:*', 'ws://127.0.0.1:*', 'ws://localhost:*']);
    expect(d.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'", hash]);
    expect(new Map(policyDirectives({ scriptHashes: [hash] })).get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
  });
});

describe('bootScript', () => {
  it('writes the full policy with the stored origins', () => {
    const attrs = runBoot(JSON.stringify(['https://api.example.com', 'http://10.1.2.3:8080']));
    expect(attrs['http-equiv']).toBe('Content-Security-Policy');
    expect(attrs.content).toBe(buildPolicy({ allowedOrigins: ['https://api.example.com', 'http://10.1.2.3:8080'] }));
    expect(attrs[ALLOWED_ATTR]).toBe('https://api.example.com http://10.1.2.3:8080');
  });
  it('is the strict policy with nothing stored, or garbage stored', () => {
    for (const stored of [null, '', 'not json', '{}', '"https://api.example.com"', JSON.stringify(BAD)]) {
      const attrs = runBoot(stored);
      expect(attrs.content, String(stored)).toBe(buildPolicy());
      expect(attrs[ALLOWED_ATTR]).toBe('');
    }
  });
  it('drops tampered entries and keeps the good ones', () => {
    const attrs = runBoot(JSON.stringify(['https://a.example', ...BAD, 'https://a.example', 'https://b.example:8443']));
    expect(attrs.content).toBe(buildPolicy({ allowedOrigins: ['https://a.example', 'https://b.example:8443'] }));
  });
  it('survives a localStorage that throws', () => {
    const attrs: Record<string, string> = {};
    const document = { createElement: () => ({ setAttribute: (k: string, v: string) => { attrs[k] = v; } }), head: { appendChild: () => {} } };
    const localStorage = { getItem: () => { throw new Error('SecurityError'); } };
    runInNewContext(bootScript(), { window: { localStorage }, document });
    expect(attrs.content).toBe(buildPolicy());
  });
  it('in dev carries the websocket and the hashes', () => {
    const hash = `'sha256-${'B'.repeat(43)}='`;
    expect(runBoot(null, { dev: true, scriptHashes: [hash] }).content).toBe(buildPolicy({ dev: true, scriptHashes: [hash] }));
  });
});

describe('endpointPermitted', () => {
  const page = 'http://127.0.0.1:4173';
  it('allows the page origin, this machine and the allowed origins', () => {
    expect(endpointPermitted('http://127.0.0.1:4173/v1', page, [])).toBe(true);
    expect(endpointPermitted('http://127.0.0.1:8000/v1', page, [])).toBe(true);
    expect(endpointPermitted('http://localhost:11434/v1', page, [])).toBe(true);
    expect(endpointPermitted('https://api.example.com/v1', page, [])).toBe(false);
    expect(endpointPermitted('https://api.example.com/v1', page, ['https://api.example.com'])).toBe(true);
    expect(endpointPermitted('https://api.example.com:8443/v1', page, ['https://api.example.com'])).toBe(false);
    expect(endpointPermitted('http://api.example.com/v1', page, ['https://api.example.com'])).toBe(false);
    expect(endpointPermitted('https://api.example.com/v1', page, null)).toBe(false);
    expect(endpointPermitted('http://[::1]:8000/v1', page, [])).toBe(false);
  });
  it('knows the loopback names the policy uses', () => {
    expect(isLoopback('http://127.0.0.1:1/')).toBe(true);
    expect(isLoopback('https://localhost/')).toBe(true);
    expect(isLoopback('http://127.0.0.2/')).toBe(false);
    expect(isLoopback('http://localhost.example.com/')).toBe(false);
  });
});
