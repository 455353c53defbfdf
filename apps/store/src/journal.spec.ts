// RocksJournal's index upkeep: the dedup window is trimmed in chunks beside the batches (a
// crash leaves more ids remembered, never fewer), and a message's failed-delivery count
// record goes with the message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalEntry, JournalOp } from '@hawser/broker';
import { orderKey } from '@hawser/broker';
import { RocksJournal, keys } from './journal';

const enqueue = (seq: number): JournalOp => ({
  kind: 'enqueue',
  enqueue: { message: { id: `ID:${seq}`, destination: '/queue/q', headers: {}, body: Buffer.from('x'), persistent: true, priority: 4, expires: 0, timestamp: 0 }, queues: ['/queue/q'], seq, dedup: true },
});

async function withJournal(dedupWindow: number, run: (j: RocksJournal, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-journal-'));
  try { await run(await RocksJournal.open(dir, { dedupWindow, retention: 1000 }), dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

async function countKeys(j: RocksJournal, p: string): Promise<number> {
  let n = 0;
  await j.db.range({ gte: `${p}\u0000`, lt: `${p}\u0001`, values: false }, () => { n++; });
  return n;
}

test('the dedup window is trimmed in chunks; the newest `dedupWindow` ids always survive a restart', async () => {
  await withJournal(100, async (j0, dir) => {
    let j = j0;
    await j.recover();
    let pos = 0;
    const write = async (from: number, n: number) => {
      const ops: JournalOp[] = [];
      for (let s = from; s < from + n; s++) ops.push(enqueue(s));
      const e: JournalEntry = { epoch: 1, position: ++pos, time: 0, ops };
      await j.write([e], false);
    };
    for (let b = 0; b < 10; b++) await write(1 + b * 500, 500); // 5,000 ids, window 100
    await j.close(); // waits for a running trim
    j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    const r = await j.recover();
    assert.ok(r.dedup.length < 5000, `trimmed (${r.dedup.length} remembered)`);
    assert.ok(r.dedup.length >= 100);
    assert.deepEqual(r.dedup.slice(-100), Array.from({ length: 100 }, (_, i) => `ID:${4901 + i}`));
    assert.equal(await countKeys(j, 'x'), 0);
    assert.equal(await countKeys(j, 'y'), Math.ceil(r.dedup.length / 500), 'one record per batch');
    await j.close();
  });
});

test('dedup records written before batch records (x\\0, one key each) are read back first, then trimmed like the new ones', async () => {
  await withJournal(100, async (j0, dir) => {
    let j = j0;
    await j.recover();
    // What an older store left: 300 ids, one x\0 record each, and its counters.
    await j.db.batch([
      ...Array.from({ length: 300 }, (_, i) => ({ type: 'put' as const, key: keys.dedup(i + 1), value: `ID:old-${i + 1}` })),
      { type: 'put', key: keys.meta('dedupSeq'), value: '300' },
    ], false);
    await j.close();
    j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    let r = await j.recover();
    assert.deepEqual(r.dedup, Array.from({ length: 300 }, (_, i) => `ID:old-${i + 1}`));
    let pos = 0;
    const write = async (from: number, n: number) => {
      const ops: JournalOp[] = [];
      for (let s = from; s < from + n; s++) ops.push(enqueue(s));
      await j.write([{ epoch: 1, position: ++pos, time: 0, ops }], false);
    };
    await write(1, 50);
    await j.close();
    j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    r = await j.recover();
    assert.deepEqual(r.dedup.slice(-100), [...Array.from({ length: 50 }, (_, i) => `ID:old-${251 + i}`), ...Array.from({ length: 50 }, (_, i) => `ID:${1 + i}`)]);
    for (let b = 0; b < 10; b++) await write(51 + b * 500, 500); // past DEDUP_TRIM: the old records go
    await j.close();
    j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    r = await j.recover();
    assert.equal(await countKeys(j, 'x'), 0);
    assert.deepEqual(r.dedup.slice(-100), Array.from({ length: 100 }, (_, i) => `ID:${4951 + i}`));
    await j.close();
  });
});

test('an ack deletes the failed-delivery count record only when there is one, also after a restart', async () => {
  await withJournal(100, async (j0, dir) => {
    let j = j0;
    await j.recover();
    await j.write([{ epoch: 1, position: 1, time: 0, ops: [enqueue(1), enqueue(2), enqueue(3)] }], false);
    await j.write([{ epoch: 1, position: 2, time: 0, ops: [{ kind: 'redeliver', redeliver: { queue: '/queue/q', seq: 2, priority: 4, count: 1 } }, { kind: 'redeliver', redeliver: { queue: '/queue/q', seq: 3, priority: 4, count: 2 } }] }], false);
    assert.equal(await countKeys(j, 'c'), 2);
    await j.write([{ epoch: 1, position: 3, time: 0, ops: [{ kind: 'remove', remove: { queue: '/queue/q', seq: 2, priority: 4, reason: 'acked' } }] }], false);
    assert.equal(await countKeys(j, 'c'), 1);
    await j.close();
    j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    await j.recover();
    await j.write([{ epoch: 1, position: 4, time: 0, ops: [1, 3].map((seq): JournalOp => ({ kind: 'remove', remove: { queue: '/queue/q', seq, priority: 4, reason: 'acked' } })) }], false);
    assert.equal(await countKeys(j, 'c'), 0);
    assert.equal(await countKeys(j, 'm'), 0);
    assert.equal(await j.db.get(keys.count('/queue/q', orderKey(4, 3))), undefined);
    await j.close();
  });
});

test('a message removed in the batch that stores it never reaches RocksDB; counts and a purge in the same batch stay right', async () => {
  await withJournal(100, async (j0, dir) => {
    let j = j0;
    await j.recover();
    const remove = (seq: number): JournalOp => ({ kind: 'remove', remove: { queue: '/queue/q', seq, priority: 4, reason: 'acked' } });
    const e1: JournalEntry = { epoch: 1, position: 1, time: 0, ops: [enqueue(1), enqueue(2), enqueue(3)] };
    const e2: JournalEntry = { epoch: 1, position: 2, time: 0, ops: [remove(2)] };
    const ops: Parameters<RocksJournal['materialize']>[1] = [];
    await j.materialize([e1, e2], ops);
    const m2 = keys.message('/queue/q', orderKey(4, 2));
    assert.ok(!ops.some((o) => o.key === m2), 'neither a put nor a delete of the acked message');
    assert.ok(ops.some((o) => o.type === 'put' && o.key === keys.message('/queue/q', orderKey(4, 1))));
    await j.commitOps(ops, false);
    assert.equal(await countKeys(j, 'm'), 2);
    assert.equal(String(await j.db.get(keys.queue('/queue/q'))), '2');

    // A purge in the batch does not count the message that was stored and acked in it.
    await j.write([
      { epoch: 1, position: 3, time: 0, ops: [enqueue(4), enqueue(5)] },
      { epoch: 1, position: 4, time: 0, ops: [remove(4), { kind: 'purge', purge: { queue: '/queue/q', upToSeq: 5, keep: [3] } }] },
    ], false);
    assert.equal(await countKeys(j, 'm'), 1, 'seq 3 kept, 1 and 5 purged, 4 never written');
    assert.equal(String(await j.db.get(keys.queue('/queue/q'))), '1');
    await j.close();
    j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    const r = await j.recover();
    assert.deepEqual(r.queues.map((q) => [q.id, q.stored]), [['/queue/q', 1]]);
    await j.close();
  });
});
