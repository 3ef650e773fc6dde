#!/usr/bin/env node
// `npm run bench:stream`: runs scripts/bench-stream.ts through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../scripts/bench-stream.ts');
process.exitCode = await main(process.argv.slice(2));
