#!/usr/bin/env node
// `npm run bench`: runs scripts/bench.ts through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../scripts/bench.ts');
process.exitCode = await main(process.argv.slice(2));
