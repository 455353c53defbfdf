import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startZooKeeper, startEnsemble, fourLetterWord, serverMode } from './index';

async function checkFor<T>(deadlineMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('checkFor: deadline passed');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a standalone server answers ruok and stops', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-zk-'));
  const zk = await startZooKeeper({ dataDir: dir, tickTime: 250 });
  try {
    assert.equal(zk.connect, `127.0.0.1:${zk.port}`);
    assert.ok(zk.pid > 0);
    assert.equal(await fourLetterWord(zk.port, 'ruok'), 'imok');
    // `imok` only says the process runs; `srvr` reports a mode once it serves.
    assert.equal(await checkFor(20_000, () => serverMode(zk.port)), 'standalone');
    await zk.stop();
    await assert.rejects(fourLetterWord(zk.port, 'ruok', 500));
  } finally {
    await zk.stop(); // the server must never outlive the test: its child handle would keep the runner waiting
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a 3-node ensemble keeps serving with one server stopped, and takes it back', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-zk-ens-'));
  const ens = await startEnsemble({ size: 3, baseDir: dir, tickTime: 250 });
  try {
    assert.equal(ens.connect.split(',').length, 3);
    const modes = await checkFor(20_000, async () => {
      const m = await Promise.all(ens.servers.map((s) => serverMode(s.port)));
      return m.filter((x) => x === 'leader').length === 1 && m.every((x) => x !== undefined) ? m : undefined;
    });
    const leader = modes.indexOf('leader');
    await ens.stopServer(leader);
    assert.equal(ens.servers[leader].running, false);
    // the two others elect a new leader and serve
    await checkFor(20_000, async () => {
      const m = await Promise.all(ens.servers.filter((_, i) => i !== leader).map((s) => serverMode(s.port)));
      return m.includes('leader') && m.includes('follower') ? true : undefined;
    });
    await ens.startServer(leader);
    assert.ok(await serverMode(ens.servers[leader].port));
  } finally {
    await ens.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the CLI runs a server until SIGTERM', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-zk-cli-'));
  const child = spawn(process.execPath, [join(__dirname, 'cli.js'), '--dataDir', dir, '--tickTime', '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    const ready = await checkFor(30_000, async () => (out.includes('\n') ? JSON.parse(out.split('\n')[0]) as { msg: string; port: number } : undefined));
    assert.equal(ready.msg, 'zookeeper ready');
    assert.equal(await fourLetterWord(ready.port, 'ruok'), 'imok');
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
    await assert.rejects(fourLetterWord(ready.port, 'ruok', 500));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
