#!/usr/bin/env node
// Runs every compiled *.spec.js under the given directories with Node's test runner.
// Node 20's `node --test` has no glob support, so the spec files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir, out) {
  if (dir.endsWith('.spec.js')) { out.push(dir); return out; }
  let names;
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.spec.js')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const dirs = args.filter((a) => !a.startsWith('--'));
const files = dirs.flatMap((d) => find(d, [])).sort();
if (files.length === 0) {
  console.error(`run-specs: no *.spec.js under ${dirs.join(', ')} (did the build run?)`);
  process.exit(1);
}
// No --test-force-exit here: with it, a spec file's process could exit before its report was
// all written, and the run counted fewer tests than it ran (seen in CI: 378 of a file's 389;
// failures were never lost). A spec that leaks a handle (a socket, a child) then keeps its file
// from ending: the watchdog bounds the whole invocation (HAWSER_SPEC_DEADLINE_S, default 900 s),
// and a run that outlives it is killed and fails, naming its files. The integration suite,
// whose specs drive whole clusters, passes --test-force-exit itself (tests/integration).
const deadlineS = Number(process.env.HAWSER_SPEC_DEADLINE_S ?? 900);
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...flags, ...files], {
  stdio: 'inherit',
  timeout: deadlineS * 1000,
  killSignal: 'SIGKILL',
});
if (r.error && r.error.code === 'ETIMEDOUT') {
  console.error(`run-specs: killed after ${deadlineS} s: ${files.join(' ')}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
