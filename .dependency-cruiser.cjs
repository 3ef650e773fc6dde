// Import rules of src/ (run by `npm run depcheck`, part of `npm test` right after the typecheck).
//
// Layers, lowest first; an import may go to the same or a lower layer only:
//   io      src/io                 file formats (npy, npz, safetensors, raw arrays, vocab, labels,
//                                  llama2.c) and SAELens's tensor layout; nothing of the engine
//   engine  src/engine             tfjs training, variants, metrics, backends, the language model
//   data    src/data               datasets, workspace, SAE import, language model runs, feature browser
//   run     src/run                one run's lifecycle (RunSession), its autosave and its export files
//   worker  src/worker             the engine worker (engine.worker.ts and the modules it is split
//                                  into) and its messages (protocol.ts)
//   app     src/app, src/store, src/ui, src/main.tsx   the page: src/app is its side of the
//                                  worker protocol (it sends the messages and puts the replies in the store)
//   cli     src/cli                the Node CLI, beside the app: may use the worker layer and below, never the page
//   tools   src/bench, scripts/    benchmarks and scripts on top of everything
// Tests (*.test.ts, e2e/) and the test helpers (src/testSetup.ts, src/engine/testing.ts,
// src/cli/testing.ts) may import anything; every rule but no-circular leaves them out.
// tsPreCompilationDeps makes type-only imports count: a type cycle is still a cycle to the reader.

const TESTS = ['\\.test\\.tsx?$', '^e2e/', '^src/testSetup\\.ts$', '^src/(engine|cli)/testing\\.ts$'];

/** A rule: files matching `from` (tests excluded) may import nothing in src/ outside `allowed`. */
function layer(name, comment, from, allowed) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from, pathNot: TESTS },
    to: { path: '^src/', pathNot: [...allowed, '^src/types/'] },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles, type-only imports included (a type lives with its owner, see src/worker/protocol.ts).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    layer('io-not-up', 'src/io may import only src/io.', '^src/io/', ['^src/io/']),
    layer('engine-not-up', 'src/engine may import only src/engine and src/io.', '^src/engine/', ['^src/(io|engine)/']),
    layer('data-not-up', 'src/data may import only src/data, src/engine and src/io.', '^src/data/', ['^src/(io|engine|data)/']),
    layer('run-not-up', 'src/run may import only src/run, src/data, src/engine and src/io.', '^src/run/', ['^src/(io|engine|data|run)/']),
    layer('worker-not-up', 'src/worker may import only src/worker, src/run, src/data, src/engine and src/io; never the page (src/app, src/store, src/ui).', '^src/worker/', ['^src/(io|engine|data|run|worker)/']),
    layer('app-not-tools', 'The app (src/app, src/store, src/ui, src/main.tsx) may import the app and the layers below it, not src/cli or src/bench.', ['^src/(app|store|ui)/', '^src/main\\.tsx$'], ['^src/(io|engine|data|run|worker|app|store|ui)/']),
    layer('cli-not-app', 'src/cli may import src/cli and the worker layer and below, not the app (src/app, src/store, src/ui) or src/bench.', '^src/cli/', ['^src/(io|engine|data|run|worker|cli)/']),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^node_modules', '^dist/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json', '.d.ts'] },
  },
};
