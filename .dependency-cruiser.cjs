// Import rules of src/ (run by `npm run depcheck`, part of `npm test` right after the typecheck).
//
// Layers, lowest first; an import may go to the same or a lower layer only:
//   io      src/io                 file formats (npy, safetensors, vocab, labels, llama2.c); its run
//                                  formats (saeImport, runExport, saelensScript, logCsv) encode the
//                                  engine's config and metric rows and may import src/engine too
//   engine  src/engine             tfjs training, metrics, backends
//   data    src/data               datasets, workspace, language model, feature browser
//   run     src/run                what a run needs beyond one trainer (autosave persistence, used by
//                                  the worker and the page)
//   worker  src/worker             the engine worker (engine.worker.ts) and its messages (protocol.ts)
//   app     src/ui, src/store, src/main.tsx and the page's side of the worker protocol,
//           src/worker/client.ts (with the client*.ts modules it is split into, PAGE_WORKER_NAMES)
//           and src/worker/runs.ts (they run in the page and own the store's view of the worker,
//           so they are app code that happens to sit in src/worker)
//   cli     src/cli                the Node CLI, beside the app: may use the worker layer, not ui/store
//   tools   src/bench, scripts/    benchmarks and scripts on top of everything
// Tests (*.test.ts, e2e/) and the test helpers (src/testSetup.ts, src/engine/testing.ts,
// src/cli/testing.ts) may import anything; every rule but no-circular leaves them out.
// tsPreCompilationDeps makes type-only imports count: a type cycle is still a cycle to the reader.

const TESTS = ['\\.test\\.tsx?$', '^e2e/', '^src/testSetup\\.ts$', '^src/(engine|cli)/testing\\.ts$'];
// The run formats of src/io encode the engine's config and metric rows (SAELens import/export, the
// run's log CSV), so they sit at the engine's level: they may import src/engine, never src/data or above.
const IO_RUN_FORMATS = '^src/io/(saeImport|runExport|saelensScript|logCsv)\\.ts$';
// The page's side of the worker, by name: client.ts (what the UI imports) and the modules it is
// split into by topic (clientEngine, clientLink, clientData, clientRun, clientFeatures,
// clientExports, clientSplice), and runs.ts. A new page-side file in src/worker is added here.
const PAGE_WORKER_NAMES = '(client|clientEngine|clientLink|clientData|clientRun|clientFeatures|clientExports|clientSplice|runs)';
const PAGE_WORKER_FILES = `^src/worker/${PAGE_WORKER_NAMES}\\.ts$`;
/** src/worker but its page files: what the worker layer, and the CLI beside the app, may import from there. */
const WORKER_NOT_PAGE = `^src/worker/(?!${PAGE_WORKER_NAMES}\\.ts$)`;

/** A rule: files matching `from` (tests excluded) may import nothing in src/ outside `allowed`. */
function layer(name, comment, from, fromNot, allowed) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from, pathNot: [...TESTS, ...fromNot] },
    to: { path: '^src/', pathNot: allowed },
  };
}

const BELOW_APP = ['^src/(io|engine|data|run|worker)/', '^src/types/'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles, type-only imports included (a type lives with its owner, see src/worker/protocol.ts).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    layer('io-not-up', 'src/io (but its run formats) may import only src/io.', '^src/io/', [IO_RUN_FORMATS], ['^src/io/', '^src/types/']),
    layer('io-formats-not-up', 'The run formats of src/io (saeImport, runExport, saelensScript, logCsv) may import only src/io and src/engine.', IO_RUN_FORMATS, [], ['^src/(io|engine)/', '^src/types/']),
    layer('engine-not-up', 'src/engine may import only src/engine and src/io.', '^src/engine/', [], ['^src/(io|engine)/', '^src/types/']),
    layer('data-not-up', 'src/data may import only src/data, src/engine and src/io.', '^src/data/', [], ['^src/(io|engine|data)/', '^src/types/']),
    layer('run-not-up', 'src/run may import only src/run, src/data, src/engine and src/io.', '^src/run/', [], ['^src/(io|engine|data|run)/', '^src/types/']),
    layer(
      'worker-not-up',
      'src/worker (but client.ts, the client*.ts it is split into and runs.ts, which are page code) may import only src/worker (not the page files), src/run, src/data, src/engine and src/io; never src/store or src/ui.',
      '^src/worker/', [PAGE_WORKER_FILES],
      ['^src/(io|engine|data|run)/', WORKER_NOT_PAGE, '^src/types/'],
    ),
    layer(
      'app-not-tools',
      'The app (src/ui, src/store, src/main.tsx, src/worker/client.ts and its client*.ts modules, src/worker/runs.ts) may import the app and the layers below it, not src/cli or src/bench.',
      ['^src/(ui|store)/', '^src/main\\.tsx$', PAGE_WORKER_FILES], [],
      [...BELOW_APP, '^src/(ui|store)/'],
    ),
    layer(
      'cli-not-app',
      'src/cli may import src/cli and the worker layer and below (protocol, engine, data, io), not the app (src/ui, src/store, the page side of src/worker) or src/bench.',
      '^src/cli/', [],
      ['^src/cli/', '^src/(io|engine|data|run)/', WORKER_NOT_PAGE, '^src/types/'],
    ),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^node_modules', '^dist/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json', '.d.ts'] },
  },
};
