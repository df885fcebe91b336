#!/usr/bin/env node
// The `gw` command. TypeScript sources run through tsx's loader (no build step on the hub).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../gateway/cli.ts');
process.exitCode = await main(process.argv.slice(2));
