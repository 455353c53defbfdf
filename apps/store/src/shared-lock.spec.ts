// ha.mode=shared-lock as processes: two stores on ONE data directory. The one holding the
// RocksDB lock is master; the other waits (ports bound, sessions refused, not ready) and
// takes over after kill -9 of the holder, with every receipted message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkFor, TestSession } from './testing';

const MAIN = resolve(__dirname, 'main.js');

interface Proc { child: ChildProcess; out: () => string; ports: () => { grpcPort: number; httpPort: number } | null }

function spawnStore(id: string, dir: string): Proc {
  const child = spawn(process.execPath, [MAIN, '--group', 'g1', '--node.id', id, '--node.dataDir', dir, '--grpc.port', '0', '--http.port', '0',
    '--ha.mode', 'shared-lock', '--sharedLock.retryMs', '100'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HAWSER_LOG_LEVEL: 'info' } });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const ports = () => {
    const line = out.split('\n').find((l) => l.includes('"msg":"store ready"') || l.includes('"msg":"store waiting"'));
    return line ? JSON.parse(line) as { grpcPort: number; httpPort: number } : null;
  };
  return { child, out: () => out, ports };
}

test('shared-lock: the lock holder is master; the waiting store takes over after kill -9 with every receipted message', async () => {
  const root = mkdtempSync(join(tmpdir(), 'hawser-shared-'));
  const dir = join(root, 'data');
  const procs: Proc[] = [];
  try {
    const a = spawnStore('a', dir);
    procs.push(a);
    await checkFor('a ready', () => a.out().includes('"msg":"store ready"'), 15_000);
    const b = spawnStore('b', dir);
    procs.push(b);
    await checkFor('b waiting', () => b.out().includes('"msg":"store waiting"'), 15_000);
    assert.match(b.out(), new RegExp(`waiting for the lock on ${dir}`));
    assert.ok(!b.out().includes('"msg":"store ready"'));
    const bp = b.ports()!;
    assert.equal((await fetch(`http://127.0.0.1:${bp.httpPort}/readyz`)).status, 503);
    const refused = new TestSession(`127.0.0.1:${bp.grpcPort}`);
    await checkFor('b refuses sessions', () => refused.events.some((e) => e.kind === 'error' && e.error.code === 'NOT_MASTER' && e.error.message.includes('waiting for the lock')));
    refused.close();

    const p = new TestSession(`127.0.0.1:${a.ports()!.grpcPort}`);
    await p.open();
    const ids: number[] = [];
    for (let i = 0; i < 200; i++) ids.push(p.send('/queue/shared', `m${i}`, { id: `ID:sh-${i}` }));
    await checkFor('some receipts', () => p.receipts().size >= 100);
    a.child.kill('SIGKILL');
    const receipted = new Set([...p.receipts()]);
    p.close();

    await checkFor('b ready', () => b.out().includes('"msg":"store ready"'), 15_000);
    assert.match(b.out(), /shared lock acquired/);
    const c = new TestSession(`127.0.0.1:${bp.grpcPort}`);
    await c.open();
    c.subscribe('s', '/queue/shared', { prefetch: 1000 });
    await checkFor('every receipted message', () => {
      const got = new Set(c.deliveries().map((d) => d.message.id));
      return ids.every((rid, i) => !receipted.has(rid) || got.has(`ID:sh-${i}`));
    });
    assert.equal((await fetch(`http://127.0.0.1:${bp.httpPort}/readyz`)).status, 200);
    c.close();
  } finally {
    for (const x of procs) if (x.child.exitCode === null && x.child.signalCode === null) {
      const gone = new Promise((r) => x.child.once('exit', r));
      x.child.kill('SIGKILL');
      await gone;
    }
    rmSync(root, { recursive: true, force: true });
  }
});
