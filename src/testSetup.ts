// Runs before every unit-test file (vite.config.ts, test.setupFiles) so that a passing run prints
// only vitest's own lines. It drops output the tests expect, by exact match or by convention;
// every other line, warning or error still prints.
//
// - tfjs's cpu backend prints, on its first tensor in Node, a banner advising to install tfjs-node.
//   The project does without tfjs-node on purpose (src/cli/nodeBackend.ts, whose quietCpuBackend
//   keeps the CLI quiet at the source); tests that use the cpu backend directly would print the
//   banner once per file.
// - Tests report the figures they measured (memory estimates, speeds, losses) with console.info.
//   Those print when SAE_TEST_REPORT=1 is set: `SAE_TEST_REPORT=1 npx vitest run src/engine/calibrate.test.ts`.

const TFJS_NODE_BANNER = 'Hi, looks like you are running TensorFlow.js in Node.js. To speed things up dramatically, install our node backend';

const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].includes(TFJS_NODE_BANNER)) return;
  warn(...args);
};

if (!process.env.SAE_TEST_REPORT) console.info = () => {};
