// The slave's on-disk snapshot staging area, and Rocks.range's awaited visitors it relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotStaging, STAGING_DIR } from './snapshot-staging';
import { RocksJournal } from './journal';

const kv = (i: number) => ({ key: Buffer.from(`m\u0000/queue/q\u0000${String(i).padStart(8, '0')}`), value: Buffer.from(`v${i}`) });

test('staging: chunks in, the same keys out in order and in chunks; a leftover is removed; destroy removes the dir', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hawser-staging-'));
  try {
    mkdirSync(join(dataDir, STAGING_DIR));
    writeFileSync(join(dataDir, STAGING_DIR, 'junk'), 'left by a crash');
    const st = await SnapshotStaging.create(dataDir);
    assert.ok(!existsSync(join(dataDir, STAGING_DIR, 'junk')), 'an older staging area is removed first');
    // Out of order across chunks: RocksDB gives them back sorted, as the master's iterator did.
    await st.add([5, 3, 4].map(kv));
    await st.add([0, 1, 2].map(kv));
    await st.add([]);
    assert.equal(st.size, 6);
    const chunks: string[][] = [];
    await st.source(4)(async (chunk) => {
      await new Promise((r) => setTimeout(r, 5)); // a slow consumer: the next chunk waits
      chunks.push(chunk.map((x) => x.value.toString()));
    });
    assert.deepEqual(chunks, [['v0', 'v1', 'v2', 'v3'], ['v4', 'v5']]);
    await st.destroy();
    await st.destroy();
    assert.ok(!existsSync(join(dataDir, STAGING_DIR)));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('install from a staged source replaces the state; the journal snapshot awaits a slow chunk consumer', async () => {
  const a = mkdtempSync(join(tmpdir(), 'hawser-staging-a-'));
  const b = mkdtempSync(join(tmpdir(), 'hawser-staging-b-'));
  try {
    const src = await RocksJournal.open(a, { dedupWindow: 100, retention: 1000 });
    await src.recover();
    const ops = Array.from({ length: 2500 }, (_, i) => ({
      kind: 'enqueue' as const,
      enqueue: { message: { id: `ID:${i}`, destination: '/queue/q', headers: {}, body: Buffer.from(`body-${i}`), persistent: true, priority: 4, expires: 0, timestamp: 0 }, queues: ['/queue/q'], seq: i + 1, dedup: true },
    }));
    await src.write([{ epoch: 3, position: 7, time: 0, ops }], false);
    const st = await SnapshotStaging.create(b);
    let inFlight = 0;
    let maxInFlight = 0;
    const at = await src.snapshot(async (items) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await st.add(items.map((x) => ({ key: x.key, value: x.value })));
      inFlight--;
    }, 500);
    assert.deepEqual(at, { epoch: 3, position: 7 });
    assert.equal(maxInFlight, 1, 'one chunk at a time');
    assert.ok(st.size > 2500, `messages and the batch's dedup record staged (${st.size})`);

    const dst = await RocksJournal.open(join(b, 'db'), { dedupWindow: 100, retention: 1000 });
    await dst.recover();
    await dst.install(st.source(1000), at.epoch, at.position, false);
    await st.destroy();
    const r = await dst.recover();
    assert.equal(r.position, 7);
    assert.deepEqual(r.queues.map((q) => [q.id, q.stored]), [['/queue/q', 2500]]);
    assert.deepEqual(r.dedup.slice(-100), Array.from({ length: 100 }, (_, i) => `ID:${2400 + i}`), 'the dedup window came with it');
    await src.close();
    await dst.close();
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});
