#!/usr/bin/env node
// `npm run bench` (`npm run bench -- --help` for the options): runs scripts/bench.ts through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../scripts/bench.ts');
process.exitCode = await main(process.argv.slice(2));
