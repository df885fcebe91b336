#!/usr/bin/env node
// `npm test`: every *.test.ts beside the code and under test/, through Node's built-in runner with tsx.
// Pass paths to run a subset: `npm test -- test/integration`.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['gateway', 'device-drivers', 'ehr-bridge', 'firmware-profiles', 'test'];

function collect(path, out) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return out;
  }
  if (st.isFile()) {
    if (path.endsWith('.test.ts')) out.push(relative(root, path));
    return out;
  }
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    collect(join(path, name), out);
  }
  return out;
}

const files = roots.flatMap((r) => collect(join(root, r), [])).sort();
if (files.length === 0) {
  console.error('no test files found under', roots.join(', '));
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, GW_LOG_LEVEL: process.env.GW_LOG_LEVEL ?? 'silent' },
});
process.exit(result.status ?? 1);
