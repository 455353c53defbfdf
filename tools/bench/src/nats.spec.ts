// nats.js: the driver against a real 3-node JetStream cluster (needs Debian's nats-server;
// without it the test fails with the install hint, it is not skipped), plus its pure parts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { benchNats, parseArgs, parseId, startNatsCluster, ROWS } from './nats';

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

test('options and message ids', () => {
  const d = parseArgs([]);
  assert.deepEqual([d.replicas, d.duration, d.json, d.rows.map((r) => r.key)], [3, 15, false, ['rpm', 'w64', 'p4c4', 'half']]);
  assert.equal(parseArgs(['--replicas', '1', '--rows', 'w64,half', '--json']).replicas, 1);
  assert.throws(() => parseArgs(['--replicas', '5']), /--replicas: expected 1 or 3, got '5'/);
  assert.throws(() => parseArgs(['--rows', 'w128']), /--rows: unknown 'w128'/);
  const body = new TextEncoder().encode('3-12345\nxxxx');
  assert.deepEqual(parseId(body), [3, 12345]);
  assert.equal(parseId(new TextEncoder().encode('hello')), undefined);
});

test('a 3-node cluster: rpm and w64 rows lose and duplicate nothing; stop kills every server and removes the dir', { timeout: 90_000 }, async () => {
  const cluster = await startNatsCluster({ replicas: 3 });
  try {
    assert.equal(cluster.urls.length, 3);
    assert.ok(cluster.pids.every(alive));
    for (const key of ['rpm', 'w64']) {
      const c = await benchNats(cluster.urls, ROWS.find((r) => r.key === key)!, 2, 3);
      assert.equal(c.error, undefined, `${key}: ${c.error}`);
      assert.ok(c.sent > 0, `${key}: nothing sent`);
      assert.ok(c.msgPerSec > 0, `${key}: ${c.msgPerSec} msg/s`);
      assert.deepEqual({ lost: c.lost, duplicates: c.duplicates, failedSends: c.failedSends }, { lost: 0, duplicates: 0, failedSends: 0 }, key);
    }
    const np = await benchNats(cluster.urls, ROWS.find((r) => r.key === 'np64')!, 2, 3);
    assert.equal(np.error, 'not applicable');
  } finally {
    await cluster.stop();
  }
  assert.deepEqual(cluster.pids.filter(alive), [], 'nats-server processes left running');
  assert.equal(existsSync(cluster.dir), false, `${cluster.dir} not removed`);
});
