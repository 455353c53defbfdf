// Black-box: the built store as a process, kill -9, restart on the same directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkFor, TestSession } from './testing';

const MAIN = resolve(__dirname, 'main.js');

interface Running { child: ChildProcess; grpcPort: number; httpPort: number; output: () => string; exit: Promise<number | null> }

async function spawnStore(dir: string): Promise<Running> {
  const child = spawn(process.execPath, [MAIN, '--group', 'g1', '--node.id', 's1', '--node.dataDir', dir, '--grpc.port', '0', '--http.port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HAWSER_LOG_LEVEL: 'info' } });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const line = (await checkFor('store ready', () => out.split('\n').find((l) => l.includes('"msg":"store ready"')), 15_000))!;
  const j = JSON.parse(line) as { grpcPort: number; httpPort: number };
  return { child, grpcPort: j.grpcPort, httpPort: j.httpPort, output: () => out, exit };
}

test('kill -9 keeps every receipted message and forgets acked ones; SIGTERM exits 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-store-proc-'));
  const children: ChildProcess[] = [];
  try {
    const first = await spawnStore(dir);
    children.push(first.child);
    // node.heapGrowingPercent's default reached V8 before the store started (main.ts).
    assert.match(first.output(), /"heapGrowingPercent":400[,}].*"msg":"store ready"/);
    const p = new TestSession(`127.0.0.1:${first.grpcPort}`);
    await p.open();
    const ids: number[] = [];
    for (let i = 0; i < 200; i++) ids.push(p.send('/queue/k9', `m${i}`, { id: `ID:k9-${i}` }));
    await p.receipted(ids);
    const c = new TestSession(`127.0.0.1:${first.grpcPort}`);
    await c.open();
    c.subscribe('s', '/queue/k9', { prefetch: 50 });
    await checkFor('50 deliveries', () => c.deliveries().length === 50);
    const acks = c.deliveries().slice(0, 50).map((d) => c.ack(d.deliveryTag));
    await c.receipted(acks);
    // More sends racing the kill: only the receipted ones must survive.
    const late: number[] = [];
    for (let i = 200; i < 300; i++) late.push(p.send('/queue/k9', `m${i}`, { id: `ID:k9-${i}` }));
    await checkFor('some late receipts', () => p.receipts().size > 200);
    first.child.kill('SIGKILL');
    await first.exit;
    const receiptedLate = late.filter((id) => p.receipts().has(id)).map((id) => late.indexOf(id) + 200);
    p.close();
    c.close();

    const second = await spawnStore(dir);
    children.push(second.child);
    const c2 = new TestSession(`127.0.0.1:${second.grpcPort}`);
    await c2.open();
    c2.subscribe('s', '/queue/k9', { prefetch: 1000 });
    const want = new Set([...Array(150).keys()].map((i) => `m${i + 50}`).concat(receiptedLate.map((i) => `m${i}`)));
    await checkFor('every receipted, unacked message', () => {
      const got = new Set(c2.deliveries().map((d) => d.message.body.toString()));
      return [...want].every((b) => got.has(b));
    }, 15_000);
    const bodies = c2.deliveries().map((d) => d.message.body.toString());
    for (let i = 0; i < 50; i++) assert.ok(!bodies.includes(`m${i}`), `acked m${i} came back`);
    assert.equal(new Set(bodies).size, bodies.length, 'no duplicates');
    c2.close();

    second.child.kill('SIGTERM');
    assert.equal(await second.exit, 0);
  } finally {
    for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
