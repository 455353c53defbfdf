// The launcher itself: start on free ports, ready line, SIGTERM exits 0, restart on the
// same ports, kill -9, a start that fails reports the log tail, checkFor's deadline.
// Uses the gateway alone (it starts without a reachable store).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Harness, Gateway, checkFor, freePort, httpGet } from './harness';
import { RawStomp, pidAlive } from './support';

describe('harness', { timeout: 60_000 }, () => {
  const h = new Harness('harness');
  after(() => h.close());

  function gateway(name: string, storePort: number, extra: string[] = []): Gateway {
    return new Gateway({
      name,
      script: 'apps/gateway/dist/main.js',
      args: ['--auth.anonymous', 'true', '--store.address', `127.0.0.1:${storePort}`, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', ...extra],
      readyMsg: 'gateway ready',
      portFlags: { '--stomp.port': 'stompPort', '--ws.port': 'wsPort', '--http.port': 'httpPort' },
    }, h.logDir);
  }

  it('starts, stops with SIGTERM (exit 0), restarts on the same ports, dies on kill -9', { timeout: 40_000 }, async () => {
    const g = gateway('gw-lifecycle', await freePort());
    try {
      await g.start();
      assert.ok(pidAlive(g.pid));
      const ports = [g.stompPort, g.wsPort, g.httpPort];
      assert.ok(ports.every((p) => p > 0));
      assert.equal((await httpGet(g.httpPort, '/healthz')).status, 200);
      const st = await g.stop();
      assert.deepEqual(st, { code: 0, signal: null });
      await g.restart();
      assert.deepEqual([g.stompPort, g.wsPort, g.httpPort], ports, 'restart reuses the bound ports');
      const raw = await RawStomp.open(g.stompPort);
      raw.destroy();
      const pid = g.pid;
      const k = await g.kill9();
      assert.equal(k?.signal, 'SIGKILL');
      assert.ok(!pidAlive(pid));
    } finally {
      await g.stop();
    }
  });

  it('a service that exits before ready fails start() with its log tail', { timeout: 20_000 }, async () => {
    const g = gateway('gw-bad', await freePort(), ['--limits.maxFrameSize', 'not-a-number']);
    await assert.rejects(g.start(5000), (e: Error) => /exited before ready/.test(e.message) && /maxFrameSize/.test(e.message));
  });

  it('checkFor polls until fn passes, and reports the last error at the deadline', async () => {
    let n = 0;
    assert.equal(await checkFor(1000, 10, () => { if (++n < 3) throw new Error('not yet'); return n; }), 3);
    await assert.rejects(checkFor(100, 20, () => { throw new Error('never'); }), /after 100 ms: never/);
  });

  it('keeps its files under a temp dir', () => {
    assert.ok(existsSync(h.logDir));
  });
});
