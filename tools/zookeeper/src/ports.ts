// Loopback ports for test and benchmark processes that are told their port before they bind
// it (a ZooKeeper's client and peer ports, a coordinator other processes must know up
// front, a service restarted on the port it had).
//
// `listen(0)` then close is not enough for those: the port comes from the kernel's ephemeral
// range, and between the close and the real bind any outgoing connection on the machine
// (a gRPC client, a ZooKeeper session, a parallel test) may get it as its source port — the
// bind then fails with EADDRINUSE (seen in CI: a coordinator of one spec lost its port while
// another spec ran beside it). So ports are picked BELOW the ephemeral range, where the
// kernel never assigns source ports, and reserved across processes with a lock file per
// port (O_EXCL create; a lock whose owner pid is gone is taken over).
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCK_DIR = join(tmpdir(), 'hawser-test-ports');
/** Lowest port handed out; the range ends below the ephemeral range's start. */
const LOWEST = 20_000;

const held = new Set<number>();
let exitHookInstalled = false;

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && Number.isInteger(low)) return low;
  } catch { /* not Linux */ }
  return 32_768; // Linux's default
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * Creates the lock file of `port` for this process; false if another live process holds it.
 * A lock whose owner is gone is taken over. (Exported for its spec; use freePort.)
 */
export function lock(port: number): boolean {
  mkdirSync(LOCK_DIR, { recursive: true });
  const file = join(LOCK_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = NaN;
      try { owner = Number(readFileSync(file, 'utf8')); } catch { continue; /* just released */ }
      if (owner === process.pid || pidAlive(owner)) return false;
      try { unlinkSync(file); } catch { /* someone else took it over first */ }
    }
  }
  return false;
}

function unlock(port: number): void {
  held.delete(port);
  try { unlinkSync(join(LOCK_DIR, String(port))); } catch { /* already gone */ }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => res(true)));
  });
}

function listenZero(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/**
 * A loopback port nobody listens on, outside the kernel's ephemeral range and reserved for
 * this process until it exits (or `releasePort`). Falls back to `listen(0)` when the range
 * below the ephemeral ports is too small to pick from.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralStart() - 1;
  if (high - LOWEST < 1000) return listenZero();
  mkdirSync(LOCK_DIR, { recursive: true });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => { for (const p of [...held]) unlock(p); });
  }
  for (let tries = 0; tries < 500; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST + 1));
    if (held.has(port) || !lock(port)) continue;
    if (await canBind(port)) {
      held.add(port);
      return port;
    }
    unlock(port); // something outside our tests listens there
  }
  throw new Error(`no free loopback port found in ${LOWEST}-${high} after 500 tries (lock files in ${LOCK_DIR})`);
}

/** Gives a port from `freePort` back (optional: they are released when the process exits). */
export function releasePort(port: number): void {
  if (held.has(port)) unlock(port);
}
