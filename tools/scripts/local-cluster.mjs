#!/usr/bin/env node
// The local cluster behind `npm start`: starts Hawser's services as child processes on
// the default ports, restarts one that dies (after a short delay, as the systemd units in
// deploy/ do with Restart=on-failure), and stops them all on Ctrl-C / SIGTERM.
//
//   node tools/scripts/local-cluster.mjs [--data DIR] [--base-port-offset N]
//
// Data and logs go under DIR (default .hawser/ in the repository), one log file per service.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(new URL('../..', import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};
if (args.includes('--help')) {
  console.log('usage: npm start -- [--data DIR] [--offset N]   (N is added to every default port)');
  process.exit(0);
}
const dataDir = resolve(opt('data', join(root, '.hawser')));
const offset = Number(opt('offset', '0'));
if (!Number.isInteger(offset) || offset < 0 || offset > 1000) {
  console.error(`local-cluster: --offset must be an integer from 0 to 1000, got ${opt('offset')}`);
  process.exit(2);
}
const p = (n) => String(n + offset);
mkdirSync(join(dataDir, 'logs'), { recursive: true });

const services = [
  {
    name: 'store-1',
    script: 'apps/store/dist/main.js',
    args: ['--group', 'default', '--node.id', 'store-1', '--node.dataDir', join(dataDir, 'store-1'),
      '--grpc.port', p(61620), '--http.port', p(8171)],
  },
  {
    name: 'gateway-1',
    script: 'apps/gateway/dist/main.js',
    args: ['--gateway.id', 'gateway-1', '--store.address', `127.0.0.1:${p(61620)}`,
      '--stomp.port', p(61613), '--ws.port', p(61614), '--http.port', p(8161)],
  },
];

let stopping = false;
const running = new Map(); // name -> child

function start(svc, attempt = 0) {
  if (stopping) return;
  const logFile = join(dataDir, 'logs', `${svc.name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(root, svc.script), ...svc.args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running.set(svc.name, child);
  const startedAt = Date.now();
  console.log(`[local-cluster] ${svc.name} started (pid ${child.pid}), log ${logFile}`);
  child.on('exit', (code, signal) => {
    running.delete(svc.name);
    if (stopping) return;
    // A service that ran for a while restarts at once-ish; one that keeps dying backs off.
    const next = Date.now() - startedAt > 30_000 ? 0 : attempt + 1;
    const delay = Math.min(1000 * 2 ** next, 30_000);
    console.log(`[local-cluster] ${svc.name} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms (see ${logFile})`);
    setTimeout(() => start(svc, next), delay);
  });
}

function stopAll(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`[local-cluster] ${signal}: stopping ${running.size} service(s)`);
  for (const child of running.values()) child.kill('SIGTERM');
  const force = setTimeout(() => {
    for (const child of running.values()) child.kill('SIGKILL');
  }, 10_000);
  const check = setInterval(() => {
    if (running.size === 0) {
      clearInterval(check);
      clearTimeout(force);
      console.log('[local-cluster] stopped');
      process.exit(0);
    }
  }, 100);
}
process.on('SIGINT', () => stopAll('SIGINT'));
process.on('SIGTERM', () => stopAll('SIGTERM'));

for (const svc of services) start(svc);
console.log(`[local-cluster] Hawser is starting: STOMP stomp://127.0.0.1:${p(61613)}, WebSocket ws://127.0.0.1:${p(61614)}, metrics http://127.0.0.1:${p(8161)}/metrics`);
console.log('[local-cluster] Ctrl-C stops everything.');
