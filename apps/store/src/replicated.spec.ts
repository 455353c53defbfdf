// Replicated groups in-process: three stores over real gRPC and RocksDB, driven by
// Member.Prepare/Assign from the test (playing the coordinator), without ZooKeeper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dedupKey, dedupScope, type DedupWindow } from '@hawser/broker';
import { checkFor, TestSession } from './testing';
import { assign, bootNode, bootServing, cleanupNodes, elect, logOf, nodeAddr, nodeStatus, prepare, stopNode, testNodes, type TestNode } from './testing-group';
import { STAGING_DIR } from './snapshot-staging';

async function sessionWithOne(master: TestNode, slave: TestNode, destination: string, body: string, id: string): Promise<TestSession> {
  const p = new TestSession(nodeAddr(master));
  await p.open();
  await p.receipted([p.send(destination, body, { id })]);
  await checkFor('replicated', () => slave.store!.repl!.replica.lastPosition === master.store!.repl!.replica.lastPosition);
  return p;
}

test('3 stores: receipts after replication, slaves refuse sessions, failover to s2 keeps every message, s1 rejoins and catches up', async () => {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);

    const p = new TestSession(nodeAddr(s1));
    await p.open();
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push(p.send('/queue/orders', `m${i}`, { id: `ID:o-${i}` }));
    await p.receipted(ids);
    p.close();

    // Slaves hold the same log (positions and epochs) and refuse sessions, naming the master.
    await checkFor('slaves equal', async () => {
      const [a, b, c] = await Promise.all(all.map(nodeStatus));
      return a!.lastPosition === b!.lastPosition && b!.lastPosition === c!.lastPosition && c!.commitPosition === a!.commitPosition && a!.commitPosition === a!.lastPosition;
    });
    assert.deepEqual(logOf(s2), logOf(s1));
    assert.deepEqual(logOf(s3), logOf(s1));
    assert.equal((await nodeStatus(s2)).role, 'slave');
    const refused = new TestSession(nodeAddr(s2));
    await checkFor('NOT_MASTER', () => refused.events.some((e) => e.kind === 'error' && e.error.code === 'NOT_MASTER' && e.error.message.includes(`the master is s1 at ${nodeAddr(s1)}`)));
    refused.close();
    // The slaves applied the committed entries to their own core.
    await checkFor('s2 applied', () => s2.store!['core']?.destinations('/queue/orders')[0]?.depth === 30);

    // Kill s1; s2 wins epoch 2 and serves every message.
    await stopNode(s1);
    await elect(2, s2, all);
    await checkFor('s2 serving', () => s2.store!.serving);
    // The dedup ids were journaled: the promoted s2 receipts a resend (gateway move, bridge
    // retry) of every id without storing it again.
    const resend = new TestSession(nodeAddr(s2));
    await resend.open();
    await resend.receipted([...Array(30).keys()].map((i) => resend.send('/queue/orders', `dup${i}`, { id: `ID:o-${i}` })));
    resend.close();
    assert.equal(s2.store!['core']!.destinations('/queue/orders')[0]!.depth, 30, 'no duplicate stored on the promoted master');
    const c = new TestSession(nodeAddr(s2));
    await c.open();
    c.subscribe('s', '/queue/orders', { prefetch: 100 });
    await checkFor('30 deliveries from s2', () => c.deliveries().length === 30);
    assert.deepEqual(c.deliveries().map((d) => d.message.body.toString()), [...Array(30).keys()].map((i) => `m${i}`));
    const acks = c.deliveries().slice(0, 10).map((d) => c.ack(d.deliveryTag));
    await c.receipted(acks);
    c.close();

    // s1 restarts and is assigned slave of s2: it catches up to an identical log.
    await bootNode(s1);
    assert.equal((await assign(s1, 2, 'slave', s2, all)).accepted, true);
    await checkFor('s1 caught up', () => s1.store!.repl!.replica.lastPosition === s2.store!.repl!.replica.lastPosition &&
      s1.store!.repl!.appliedPosition === s2.store!.repl!.replica.commitPosition);
    assert.deepEqual(logOf(s1), logOf(s2));
    await checkFor('s1 applied the acks', () => s1.store!['core']?.destinations('/queue/orders')[0]?.depth === 20);
  } finally {
    await cleanupNodes(all);
  }
});

test('quorum_mem with 2 of 3 down: receipts wait; an uncommitted tail is truncated when the old master rejoins', async () => {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const p = await sessionWithOne(s1, s2, '/queue/t', 'committed', 'ID:c1');

    await stopNode(s2);
    await stopNode(s3);
    const lost = [p.send('/queue/t', 'lost-1', { id: 'ID:l1' }), p.send('/queue/t', 'lost-2', { id: 'ID:l2' })];
    await checkFor('s1 wrote the tail', () => s1.store!.repl!.replica.persistedPosition >= s1.store!.repl!.replica.lastPosition && s1.store!.repl!.replica.lastPosition >= 3);
    await new Promise((r) => setTimeout(r, 300)); // give a wrong receipt time to show up
    assert.ok(!lost.some((id) => p.receipts().has(id)), 'no receipt without a quorum');
    const tail = s1.store!.repl!.replica.lastPosition;
    p.close();
    await stopNode(s1);

    await bootNode(s2);
    await bootNode(s3);
    await elect(2, s2, all);
    await checkFor('s2 serving', () => s2.store!.serving);
    const q = new TestSession(nodeAddr(s2));
    await q.open();
    await q.receipted([q.send('/queue/t', 'after', { id: 'ID:a1' }), q.send('/queue/t', 'after-2', { id: 'ID:a2' }), q.send('/queue/t', 'after-3', { id: 'ID:a3' })]);

    await bootNode(s1);
    assert.equal(s1.store!.repl!.replica.lastPosition, tail, 's1 restarted with its uncommitted tail');
    assert.equal((await assign(s1, 2, 'slave', s2, all)).accepted, true);
    await checkFor('s1 converged', () => JSON.stringify(logOf(s1)) === JSON.stringify(logOf(s2)) &&
      s1.store!.repl!.appliedPosition === s2.store!.repl!.replica.commitPosition);
    q.subscribe('s', '/queue/t');
    await checkFor('4 deliveries', () => q.deliveries().length === 4);
    assert.deepEqual(q.deliveries().map((d) => d.message.body.toString()), ['committed', 'after', 'after-2', 'after-3']);
    await checkFor('s1 state equal', () => s1.store!['core']?.destinations('/queue/t')[0]?.depth === 4);
    q.close();
  } finally {
    await cleanupNodes(all);
  }
});

test('journal.maxInflight 1: while a proposal waits for its quorum, new entries wait too and go out as one batch', async () => {
  const all = testNodes(['--journal.maxInflight', '1']);
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const p = await sessionWithOne(s1, s2, '/queue/b', 'first', 'ID:b0');
    const base = s1.store!.repl!.replica.lastPosition;

    // No slave: the next proposal cannot be acknowledged, so it is the only one in flight.
    await stopNode(s2);
    await stopNode(s3);
    const ids = [p.send('/queue/b', 'a1', { id: 'ID:b1' })];
    await checkFor('a1 proposed', () => s1.store!.repl!.replica.lastPosition === base + 1);
    for (let i = 2; i <= 4; i++) {
      await new Promise((r) => setTimeout(r, 50)); // separate requests, separate turns
      ids.push(p.send('/queue/b', `a${i}`, { id: `ID:b${i}` }));
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(s1.store!.repl!.replica.lastPosition, base + 1, 'a2..a4 wait for a slot in the pipeline');
    assert.ok(!ids.some((id) => p.receipts().has(id)), 'no receipt without a quorum');

    // A slave again: a1 is acknowledged, and what waited goes out behind it.
    await bootNode(s2);
    assert.equal((await assign(s2, 1, 'slave', s1, all)).accepted, true);
    await p.receipted(ids);
    assert.equal(s1.store!.repl!.replica.lastPosition, base + 4, 'one entry per request, none lost');
    await checkFor('s2 has them all', () => JSON.stringify(logOf(s2)) === JSON.stringify(logOf(s1)));
    p.subscribe('s', '/queue/b');
    await checkFor('5 deliveries', () => p.deliveries().length === 5);
    assert.deepEqual(p.deliveries().map((d) => d.message.body.toString()), ['first', 'a1', 'a2', 'a3', 'a4']);
    p.close();
  } finally {
    await cleanupNodes(all);
  }
});

test('journal.replicaApplyMs: a slave applies committed entries in windows; promoted before its window ends, it serves them all', async () => {
  const all = testNodes(['--journal.replicaApplyMs', '60000']);
  const [s1, s2] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const p = new TestSession(nodeAddr(s1));
    await p.open();
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(p.send('/queue/w', `w${i}`, { id: `ID:w-${i}` }));
    await p.receipted(ids);
    const acks = [];
    p.subscribe('s', '/queue/w', { prefetch: 100 });
    await checkFor('10 deliveries', () => p.deliveries().length === 10);
    for (const d of p.deliveries().slice(0, 4)) acks.push(p.ack(d.deliveryTag));
    await p.receipted(acks);
    await checkFor('s2 knows the commit', () => s2.store!.repl!.replica.commitPosition === s1.store!.repl!.replica.commitPosition, 5000);
    assert.ok(s2.store!.repl!.appliedPosition < s2.store!.repl!.replica.commitPosition, 's2 has not applied yet (its window is a minute)');
    p.close();

    await stopNode(s1);
    await elect(2, s2, all);
    await checkFor('s2 serving', () => s2.store!.serving);
    const c = new TestSession(nodeAddr(s2));
    await c.open();
    c.subscribe('s', '/queue/w', { prefetch: 100 });
    await checkFor('6 deliveries from s2', () => c.deliveries().length === 6);
    assert.deepEqual(c.deliveries().map((d) => d.message.body.toString()).sort(), ['w4', 'w5', 'w6', 'w7', 'w8', 'w9']);
    await checkFor('the promoted master applied its log', () => s2.store!.repl!.appliedPosition === s2.store!.repl!.replica.commitPosition);
    c.close();
  } finally {
    await cleanupNodes(all);
  }
});

test('journal.gatherMs (quorum_mem): receipts do not wait for a node\'s own disk; its entries go to RocksDB together, and a stop writes them at once', async () => {
  const all = testNodes(['--journal.gatherMs', '5000']);
  const [s1] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const p = new TestSession(nodeAddr(s1));
    await p.open();
    const r = s1.store!.repl!.replica;
    const last = r.lastPosition;
    await checkFor('the open is on disk', () => r.persistedPosition === last, 15_000);
    // Count the master's RocksDB batches and the journal entries each one carries.
    const db = (s1.store!.repl as unknown as { journal: { db: { batch(ops: Array<{ key: string | Buffer }>, sync: boolean): Promise<void> } } }).journal.db;
    const batch = db.batch.bind(db);
    const entriesPerBatch: number[] = [];
    db.batch = (ops, sync) => {
      const n = ops.filter((o) => String(o.key).startsWith('j\u0000')).length;
      if (n) entriesPerBatch.push(n);
      return batch(ops, sync);
    };
    for (let i = 0; i < 5; i++) await p.receipted([p.send('/queue/g', `g${i}`, { id: `ID:g-${i}` })]);
    assert.equal(r.lastPosition, last + 5);
    assert.ok(r.persistedPosition < r.lastPosition, `the five receipts came from the slaves' memory, the master's own write still gathers (persisted ${r.persistedPosition}, last ${r.lastPosition})`);
    await checkFor('the gathered write is done', () => r.persistedPosition === r.lastPosition, 15_000);
    assert.deepEqual(entriesPerBatch, [5], 'the five entries, proposed one after another, went to RocksDB in one batch');
    // A stop does not wait out a gathering write: it writes what is queued.
    await p.receipted([p.send('/queue/g', 'g5', { id: 'ID:g-5' })]);
    p.close();
    await stopNode(s1);
    assert.equal(r.persistedPosition, last + 6, 'the entry queued when the stop came is on disk');
  } finally {
    await cleanupNodes(all);
  }
});

test('a slave far behind catches up by snapshot; a Prepare of a newer epoch fences the master at once', async () => {
  const all = testNodes(['--journal.retention', '5']);
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootNode(s1);
    await bootNode(s2);
    await elect(1, s1, all);
    await checkFor('s1 serving', () => s1.store!.serving);
    const p = new TestSession(nodeAddr(s1));
    await p.open('client-1');
    p.subscribe('d', '/topic/t', { durableName: 'dn' });
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) ids.push(p.send(i % 2 ? '/queue/a' : '/topic/t', `m${i}`, { id: `ID:s-${i}` }));
    await p.receipted(ids);
    await checkFor('s1 compacted', () => s1.store!.repl!.replica.firstPosition > 10);

    await bootNode(s3);
    assert.equal((await assign(s3, 1, 'slave', s1, all)).accepted, true);
    await checkFor('s3 caught up by snapshot', () => s3.store!.repl!.replica.lastPosition === s1.store!.repl!.replica.lastPosition &&
      s3.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition, 10_000);
    assert.ok(s3.store!.repl!.replica.snapshotPosition > 0, 'installed a snapshot');
    await checkFor('the staging area removed', () => !existsSync(join(s3.dir, STAGING_DIR)));
    const dests = (s: TestNode) => JSON.stringify(s.store!['core']!.destinations().map((d) => [d.name, d.depth]));
    await checkFor('same destinations', () => dests(s3) === dests(s2) && dests(s2).includes('/queue/a'));
    // The snapshot carries the dedup window (x\0 keys): s3, if promoted, drops a resend.
    const dedupOf = (n: TestNode) => n.store!['core']!['dedup'] as DedupWindow;
    const keyOf = (i: number) => dedupKey(dedupScope({ login: '' }), i % 2 ? '/queue/a' : '/topic/t', `ID:s-${i}`);
    for (const i of [0, 1, 39]) assert.ok(dedupOf(s3).has(keyOf(i)), `s3 remembers ID:s-${i}`);

    // Fencing: a Prepare of epoch 2 reaches the master; a pending receipt never comes.
    await stopNode(s2);
    await stopNode(s3);
    const pending = p.send('/queue/a', 'in-doubt', { id: 'ID:doubt' });
    await checkFor('written', () => s1.store!.repl!.replica.persistedPosition === s1.store!.repl!.replica.lastPosition);
    assert.equal((await prepare(s1, 2)).promised, true);
    await checkFor('session ended with NOT_MASTER', () => p.events.some((e) => e.kind === 'error' && e.error.code === 'NOT_MASTER'));
    assert.ok(!p.receipts().has(pending));
    assert.equal((await nodeStatus(s1)).role, 'candidate');
    assert.equal(s1.store!.serving, false);
    p.close();
  } finally {
    await cleanupNodes(all);
  }
});

test('a slave behind what the master holds in memory catches up from the master\'s RocksDB, entry by entry, not by snapshot', async () => {
  // journal.retentionBytes 1: every applied entry with a message body leaves the replication
  // log's memory at once (the newest stays); journal.retention (100,000) keeps them all on disk.
  const all = testNodes(['--journal.retentionBytes', '1']);
  const [s1, , s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const p = new TestSession(nodeAddr(s1));
    await p.open();
    await p.receipted([p.send('/queue/c', 'first')]);
    await checkFor('s3 has it', () => s3.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition);
    const behind = s3.store!.repl!.replica.lastPosition;
    await stopNode(s3);
    const ids: number[] = [];
    for (let i = 0; i < 60; i++) ids.push(p.send('/queue/c', `m${i}`, { id: `ID:c-${i}` }));
    await p.receipted(ids);
    await checkFor('s1 released what s3 lacks', () => s1.store!.repl!.replica.heldFrom > behind + 30);
    const reads = async () => Number(/hawser_store_catchup_reads_total(?:\{[^}]*\})? (\d+)/.exec(await s1.registry!.metrics())?.[1] ?? 0);
    assert.equal(await reads(), 0);

    await bootNode(s3);
    assert.equal((await assign(s3, 1, 'slave', s1, all)).accepted, true);
    await checkFor('s3 caught up', () => s3.store!.repl!.replica.lastPosition === s1.store!.repl!.replica.lastPosition &&
      s3.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition, 10_000);
    assert.equal(s3.store!.repl!.replica.snapshotPosition, 0, 'no snapshot: the entries came from s1\'s disk');
    assert.ok(await reads() >= 1, 'the master read entries back for s3');
    assert.deepEqual(logOf(s3), logOf(s1));
    await checkFor('s3 applied them', () => s3.store!['core']?.destinations('/queue/c')[0]?.depth === 61);
    p.close();
  } finally {
    await cleanupNodes(all);
  }
});

test('a member first seen after the election (down and never listed) is replicated to once it dials in', async () => {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootNode(s1);
    await bootNode(s2);
    // The coordinator knew only s1 and s2 (s3 had never registered): Assign lists those two.
    await elect(1, s1, [s1, s2]);
    await checkFor('s1 serving', () => s1.store!.serving);
    const p = new TestSession(nodeAddr(s1));
    await p.open();
    await p.receipted([p.send('/queue/late', 'before', { id: 'ID:b1' })]);

    await bootNode(s3);
    assert.equal((await assign(s3, 1, 'slave', s1, all)).accepted, true);
    await p.receipted([p.send('/queue/late', 'after', { id: 'ID:a1' })]);
    await checkFor('s3 caught up', () => JSON.stringify(logOf(s3)) === JSON.stringify(logOf(s1)) &&
      s3.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition);

    // s3 now counts: with s2 gone, s1 + s3 are the quorum that receipts.
    await stopNode(s2);
    await p.receipted([p.send('/queue/late', 'without-s2', { id: 'ID:w1' })]);
    await checkFor('s3 has it', () => s3.store!.repl!.replica.lastPosition === s1.store!.repl!.replica.lastPosition);
    p.close();
  } finally {
    await cleanupNodes(all);
  }
});

test('D1: the promoted master marks what it took over as possibly delivered (not a failure); what it takes after is unmarked', async () => {
  const all = testNodes();
  const [s1, s2] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const c = new TestSession(nodeAddr(s1));
    await c.open();
    c.subscribe('s', '/queue/d1', { prefetch: 1 });
    const p = new TestSession(nodeAddr(s1));
    await p.open();
    await p.receipted([p.send('/queue/d1', 'seen', { id: 'ID:d1-1' }), p.send('/queue/d1', 'unseen', { id: 'ID:d1-2' })]);
    await checkFor('one delivery on s1', () => c.deliveries().length === 1);
    assert.deepEqual(c.deliveries().map((d) => [d.message.body.toString(), d.redelivered, d.deliveryCount]), [['seen', false, 1]]);
    await checkFor('replicated', () => s2.store!.repl!.replica.lastPosition === s1.store!.repl!.replica.lastPosition);
    c.close();
    p.close();

    await stopNode(s1);
    await elect(2, s2, all);
    await checkFor('s2 serving', () => s2.store!.serving);
    const c2 = new TestSession(nodeAddr(s2));
    await c2.open();
    c2.subscribe('s', '/queue/d1', { prefetch: 10 });
    await checkFor('both from s2', () => c2.deliveries().length === 2);
    // 'unseen' was never delivered: over-marked, the price of not journaling deliveries.
    assert.deepEqual(c2.deliveries().map((d) => [d.message.body.toString(), d.redelivered, d.deliveryCount]), [['seen', true, 2], ['unseen', true, 2]]);
    const p2 = new TestSession(nodeAddr(s2));
    await p2.open();
    await p2.receipted([p2.send('/queue/d1', 'new', { id: 'ID:d1-3' })]);
    await checkFor('the new one', () => c2.deliveries().length === 3);
    assert.deepEqual([c2.deliveries()[2]!.message.body.toString(), c2.deliveries()[2]!.redelivered, c2.deliveries()[2]!.deliveryCount], ['new', false, 1]);
    c2.close();
    p2.close();
  } finally {
    await cleanupNodes(all);
  }
});
