#!/usr/bin/env node
// Runs one private ZooKeeper server in the foreground (local cluster):
//   node tools/zookeeper/dist/cli.js --dataDir D [--port P] [--tickTime T]
// Prints one JSON line {"msg":"zookeeper ready",port,pid,...} once it answers `imok`;
// SIGTERM/SIGINT stop the server and exit 0; if the server dies, this exits 1.
import { startZooKeeper, ZooKeeperLaunchError } from './index';

function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}

function num(name: string): number | undefined {
  const v = arg(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`hawser-zookeeper: --${name} must be a non-negative integer, got "${v}"\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const dataDir = arg('dataDir');
  if (!dataDir) {
    process.stderr.write('usage: hawser-zookeeper --dataDir DIR [--port PORT] [--tickTime MS]\n');
    process.exit(2);
  }
  const port = num('port');
  const server = await startZooKeeper({ dataDir, port: port === 0 ? undefined : port, tickTime: num('tickTime') });
  process.stdout.write(JSON.stringify({ msg: 'zookeeper ready', port: server.port, connect: server.connect, pid: process.pid, zkPid: server.pid, logFile: server.logFile }) + '\n');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => { void stop(); });
  process.on('SIGINT', () => { void stop(); });
  void server.exited.then(() => {
    if (!stopping) {
      process.stderr.write(JSON.stringify({ msg: 'zookeeper exited unexpectedly', logFile: server.logFile }) + '\n');
      process.exit(1);
    }
  });
}

main().catch((e: unknown) => {
  const msg = e instanceof ZooKeeperLaunchError ? e.message : String(e instanceof Error ? e.stack : e);
  process.stderr.write(`hawser-zookeeper: ${msg}\n`);
  process.exit(1);
});
