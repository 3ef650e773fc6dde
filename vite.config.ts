import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { defineConfig, type Plugin } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { bootScript, buildPolicy } from './src/ui/csp.ts';

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The Content-Security-Policy (src/ui/csp.ts) in every way the app is served: each HTML page gets
 * the fixed part as a <meta http-equiv> and, first of its scripts, /csp.js, which adds the whole
 * policy with the interpretation endpoints the user allowed; the dev and preview servers also send
 * the fixed part (with frame-ancestors) as a header, and the whole policy with connect-src 'self'
 * to worker scripts. The dev server's only inline script, React's refresh preamble, is allowed by
 * its hash; any other inline script is reported here and stays blocked.
 */
function contentSecurityPolicy(): Plugin {
  let dev = false;
  let base = '/';
  const hashes = new Set<string>();
  const script = () => bootScript({ dev, scriptHashes: [...hashes] });
  const scriptUrl = () => `${base}csp.js?v=${createHash('sha256').update(script()).digest('hex').slice(0, 10)}`;
  const setHeader = (req: IncomingMessage, res: ServerResponse) => {
    const dest = req.headers['sec-fetch-dest'];
    const worker = dest === 'worker' || dest === 'sharedworker' || dest === 'serviceworker';
    res.setHeader('Content-Security-Policy', buildPolicy({ part: worker ? 'worker' : 'header', dev, scriptHashes: [...hashes] }));
  };
  return {
    name: 'sae-workbench:csp',
    configResolved(config) {
      dev = config.command === 'serve' && !config.isProduction;
      base = config.base;
      if (dev) hashes.add(sha256(react.preambleCode.replace('__BASE__', base)));
    },
    transformIndexHtml: {
      order: 'post',
      handler(html) {
        if (dev) {
          for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
            if (/\bsrc\s*=/i.test(m[1]) || !m[2]) continue;
            const h = sha256(m[2]);
            if (!hashes.has(h)) console.warn(`[csp] an inline script the policy does not allow was injected into the page (${h}): ${m[2].slice(0, 80)}…`);
          }
        }
        // Right after <meta charset> (which must stay first), before any other element.
        const attr = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
        const tags = `\n    <meta http-equiv="Content-Security-Policy" content="${attr(buildPolicy({ part: 'fixed', dev, scriptHashes: [...hashes] }))}" />`
          + `\n    <script src="${attr(scriptUrl())}"></script>`;
        const charset = /<meta\s+charset[^>]*>/i.exec(html);
        if (charset) return html.slice(0, charset.index + charset[0].length) + tags + html.slice(charset.index + charset[0].length);
        if (!/<head[^>]*>/i.test(html)) throw new Error('[csp] an HTML page without <head>: the policy cannot be added');
        return html.replace(/<head[^>]*>/i, (m) => m + tags);
      },
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        setHeader(req, res);
        if (req.url?.split('?')[0] === `${base}csp.js`) {
          res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
          res.setHeader('Cache-Control', 'no-cache');
          res.end(script());
          return;
        }
        next();
      });
    },
    configurePreviewServer(server) {
      server.middlewares.use((req, res, next) => {
        setHeader(req, res);
        next();
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'csp.js', source: script() });
    },
  };
}

// One config for the app (vite), its production build and the unit tests (vitest).
/**
 * Plotly caches the measured size of every tick label, title and legend text it draws, keyed by
 * the text, its style and its position, and empties the cache only once it holds 10,000 entries —
 * about 4 MiB, which a live chart fills in ten minutes or so as axes rescale. The heap of a tab
 * left training then saws up and down by that much. Capped here at 1,000 entries (~0.4 MiB); the
 * labels of a redraw are a few dozen, so the cache still does its job. The pinned bundle is
 * patched by pattern; a build fails if the pattern is gone (a Plotly upgrade must re-check this).
 */
export const PLOTLY_TEXT_SIZE_CACHE = 1000;
export function plotlyTextSizeCache(): Plugin {
  const pattern = /(savedBBoxes\s*=\s*\{\}\s*;\s*var\s+[\w$]+\s*=\s*0\s*,\s*[\w$]+\s*=\s*)(?:1e4|10000)\b/;
  let build = false;
  return {
    name: 'sae-workbench:plotly-text-size-cache',
    configResolved(config) { build = config.command === 'build'; },
    transform(code, id) {
      // Plotly's own files (the package, or the dev server's pre-bundled copy), never a source file
      // that merely mentions it, such as the test of this plugin.
      if (!/node_modules[\\/].*plotly/.test(id) || !code.includes('savedBBoxes')) return null;
      if (!pattern.test(code)) {
        const msg = `[plotly-text-size-cache] ${id}: Plotly's text-size cache limit was not found; the cap is not applied`;
        if (build) throw new Error(msg);
        console.warn(msg);
        return null;
      }
      return { code: code.replace(pattern, `$1${PLOTLY_TEXT_SIZE_CACHE}`), map: null };
    },
  };
}

/**
 * tfjs-backend-wasm's threaded build hands each pthread worker its Emscripten glue as a Blob made
 * from `wasmFactoryThreadedSimd.toString()`. After minification that function refers to names of
 * the enclosing bundle (`typeof _scriptDir != "undefined" && _scriptDir` becomes a bare minified
 * name), so every pthread worker dies with "ReferenceError: e is not defined" and the engine
 * waits forever. The production build therefore ships the package's own, unminified glue
 * (wasm-out/tfjs-backend-wasm-threaded-simd.js, which defines WasmBackendModuleThreadedSimd at top
 * level, as the workers expect) and points the workers at it. The dev server does not minify, so
 * the original code works there. The build fails if the pattern is gone (re-check on upgrade).
 */
export function wasmThreadsGlue(): Plugin {
  const pattern = /new Blob\(\[\s*`var WasmBackendModuleThreadedSimd = ` \+\s*wasmFactoryThreadedSimd\.toString\(\)\s*\],\s*\{\s*type: 'text\/javascript'\s*\}\)/;
  let build = false;
  return {
    name: 'sae-workbench:wasm-threads-glue',
    configResolved(config) { build = config.command === 'build'; },
    transform(code, id) {
      if (!build || !/tfjs-backend-wasm[\\/]dist[\\/]backend_wasm\.js$/.test(id.split('?')[0])) return null;
      if (!pattern.test(code)) throw new Error(`[wasm-threads-glue] ${id}: the threaded glue Blob was not found; wasm threads would hang in the built app`);
      const glue = "import __threadedGlueUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js?url';\n";
      return { code: glue + code.replace(pattern, 'new URL(__threadedGlueUrl, self.location.href).href'), map: null };
    },
  };
}

/**
 * Cross-origin isolation (COOP + COEP) gives the engine worker SharedArrayBuffer, which
 * tfjs-backend-wasm needs for its multi-threaded build. Everything the app loads is its own
 * origin, so require-corp blocks nothing; the engine falls back to one thread where a host does
 * not send these headers.
 */
export const CROSS_ORIGIN_ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  plugins: [react(), contentSecurityPolicy(), plotlyTextSizeCache(), wasmThreadsGlue()],
  // The engine worker is bundled on its own: it needs the wasm-threads fix (plugins above are the page's).
  worker: { format: 'es', plugins: () => [wasmThreadsGlue()] },
  server: { port: 5173, strictPort: false, host: '127.0.0.1', headers: CROSS_ORIGIN_ISOLATION },
  preview: { port: 4173, host: '127.0.0.1', headers: CROSS_ORIGIN_ISOLATION },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 6000,
    // bench.html is the harness `npm run bench` drives in headless Chromium.
    // No build-time report of how long plugins took: on a loaded 2-core machine it fires on every
    // build and says nothing about the app.
    rollupOptions: { input: { main: 'index.html', bench: 'bench.html', kernels: 'kernels.html', lmCheck: 'lm-check.html' }, checks: { bundlerTimings: false } },
  },
  // Pre-bundle the worker's and the charts' dependencies at start-up: otherwise the dev server
  // discovers them on first load and reloads the page mid-start.
  optimizeDeps: {
    include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm', 'plotly.js-basic-dist-min', 'fflate', 'zustand', 'react', 'react-dom', 'react-dom/client'],
  },
  test: {
    include: ['src/**/*.test.ts'],
    // Keeps a passing run quiet: drops the output tests expect (src/testSetup.ts says which).
    setupFiles: ['src/testSetup.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
