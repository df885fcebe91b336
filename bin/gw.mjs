#!/usr/bin/env node
// The `gw` command. In development the TypeScript sources run through tsx's loader; a deployed hub runs
// the compiled JavaScript (`npm run build`, then GW_RUNTIME=dist), which saves tsx's loader thread
// (≈35 MB) and the start-up transpile.
const useDist = process.env.GW_RUNTIME === 'dist';
if (!useDist) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { main } = await import(useDist ? '../dist/gateway/cli.js' : '../gateway/cli.ts');
process.exitCode = await main(process.argv.slice(2));
