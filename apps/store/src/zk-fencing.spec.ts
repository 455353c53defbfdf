// A master through ZooKeeper outages (docs/reliability.md, D6), in-process: three stores over
// real gRPC and RocksDB, the test playing the coordinator and ZooKeeper's session events (the
// calls store.ts makes from Membership: zkDisconnected, zkInDoubt, zkReconnected, zkLost,
// epochPublished). The end-to-end version with a real ensemble: tests/integration
// zk-outage.e2e.spec.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFor, TestSession } from './testing';
import { bootServing, cleanupNodes, countMasterLost, electServing, nodeAddr, nodeStatus, sendReceipted, stopNode, testNodes, type TestNode } from './testing-group';

type Znodes = { epoch: number; master: { id: string; epoch: number } | null; memberOwned: boolean };
const unchanged = (epoch: number, id = 's1'): (() => Promise<Znodes>) => async () => ({ epoch, master: { id, epoch }, memberOwned: true });

const send = (master: TestNode, body: string): Promise<void> => sendReceipted(master, '/queue/zk', body);

test('quorum_mem: a disconnected master serves on; after the session timeout it stops serving but keeps its slaves; the same session back with nothing moved, it serves again in the same epoch', async () => {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const repl = s1.store!.repl!;
    await send(s1, 'before');

    // SUSPENDED: the session may live; receipts still need a slave of the quorum.
    repl.zkDisconnected();
    assert.equal(repl.serving, true);
    await send(s1, 'disconnected');

    // LOST (client side): no delivery, no receipt; still master of epoch 1 for its slaves.
    const lost = countMasterLost([s2, s3]);
    const open = new TestSession(nodeAddr(s1));
    await open.open();
    repl.zkInDoubt();
    assert.equal(repl.serving, false);
    assert.equal(repl.role, 'fenced');
    await checkFor('the open session ended NOT_MASTER', () => open.events.some((e) => e.kind === 'error' && e.error.code === 'NOT_MASTER'));
    open.close();
    const refused = new TestSession(nodeAddr(s1));
    await checkFor('a new session is refused', () => refused.events.some((e) => e.kind === 'error' && e.error.code === 'NOT_MASTER'));
    refused.close();
    // Longer than the slaves' master timeout (500 ms): its heartbeats keep them from reporting it lost.
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(lost.n, 0, 'the slaves reported masterLost while the fenced master kept replicating');
    assert.equal((await nodeStatus(s2)).role, 'slave');

    // RECONNECTED in the same session, nothing moved: serves again, same epoch, same data.
    assert.equal(await repl.zkReconnected(unchanged(1)), true);
    await checkFor('serving again', () => repl.serving);
    assert.equal(repl.epoch, 1);
    assert.equal(repl.role, 'master');
    await send(s1, 'after');
    const c = new TestSession(nodeAddr(s1));
    await c.open();
    c.subscribe('s', '/queue/zk', { prefetch: 10 });
    await checkFor('3 deliveries', () => c.deliveries().length === 3);
    assert.deepEqual(c.deliveries().map((d) => d.message.body.toString()), ['before', 'disconnected', 'after']);
    c.close();
  } finally {
    await cleanupNodes(all);
  }
});

test('no serving again when something moved: a newer epoch, another master, a member znode not ours, or no slave heard lately — the session is given up', async () => {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const repl = s1.store!.repl!;
    const cases: Array<[string, (e: number) => () => Promise<Znodes>]> = [
      ['newer epoch', (e) => async () => ({ epoch: e + 1, master: { id: 's1', epoch: e }, memberOwned: true })],
      ['another master', (e) => async () => ({ epoch: e, master: { id: 's2', epoch: e }, memberOwned: true })],
      ['member znode of another session', (e) => async () => ({ epoch: e, master: { id: 's1', epoch: e }, memberOwned: false })],
      ['ZooKeeper read fails', () => async () => { throw new Error('connection loss'); }],
    ];
    for (const [what, read] of cases) {
      const e = repl.epoch;
      repl.zkInDoubt();
      assert.equal(await repl.zkReconnected(read(e)), false, what);
      assert.equal(repl.serving, false, what);
      // Given up: fenced for good until a role comes (the coordinator elects once the znode goes);
      // a later reconnect of the same session gives it up again.
      assert.equal(await repl.zkReconnected(unchanged(e)), false, `${what}: still given up`);
      assert.equal(repl.serving, false, `${what}: still not serving`);
      await electServing(e + 1, s1, all);
    }
    // No slave heard lately: both stopped while it was fenced.
    const epoch = repl.epoch;
    repl.zkInDoubt();
    await stopNode(s2);
    await stopNode(s3);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await repl.zkReconnected(unchanged(epoch)), false);
    assert.equal(repl.serving, false);
  } finally {
    await cleanupNodes(all);
  }
});

test('disconnected from ZooKeeper and then from its slaves, a master stops serving once none has acknowledged it for the master timeout', async () => {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    const repl = s1.store!.repl!;
    repl.zkDisconnected();
    // Slaves acknowledging: it serves on past the master timeout (500 ms here).
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(repl.serving, true);
    await send(s1, 'while-disconnected');
    const cut = Date.now();
    await stopNode(s2);
    await stopNode(s3);
    await checkFor('stopped serving', () => !repl.serving);
    const tookMs = Date.now() - cut;
    assert.equal(repl.role, 'fenced');
    assert.ok(tookMs < 3000, `stopped serving ${tookMs} ms after its slaves went silent`);
    // The same session back, but no slave to follow it: it gives the session up.
    assert.equal(await repl.zkReconnected(unchanged(1)), false);
  } finally {
    await cleanupNodes(all);
  }
});

test('a master cut off from ZooKeeper whose slaves still hear it but whose acks do not reach it gives its epoch up: it ends their streams and they report it lost at once', async () => {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  // The slaves' own silence timeout far beyond the test: only the ended streams can make them report.
  s2.extra = s3.extra = ['--replication.masterTimeoutMs', '60000'];
  try {
    await bootServing(all);
    const repl = s1.store!.repl!;
    const lost = countMasterLost([s2, s3]);
    repl.zkDisconnected();
    // A one-way or flapping cut: the master's heartbeats reach the slaves, their acks do not count.
    repl['roles'].acknowledged = () => {};
    await checkFor('stopped serving', () => !repl.serving);
    assert.equal(repl.role, 'fenced');
    await checkFor('both slaves reported the master lost', () => lost.n >= 2);
    // It does not take them back, and the same session back does not make it serve in that epoch.
    assert.equal(await repl.zkReconnected(unchanged(1)), false);
    assert.equal(repl.serving, false);
    assert.deepEqual(s1.store!.repl!.links.connectedPeers(), []);
  } finally {
    await cleanupNodes(all);
  }
});

test('local_mem (receipts without a slave): a disconnection fences at once; a published newer epoch fences a connected master', async () => {
  const all = testNodes(['--sync', 'local_mem']);
  const [s1] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all);
    s1.store!.repl!.zkDisconnected();
    assert.equal(s1.store!.repl!.serving, false);
    assert.equal(s1.store!.repl!.role, 'fenced');
  } finally {
    await cleanupNodes(all);
  }
  const again = testNodes();
  const [m] = again as [TestNode, TestNode, TestNode];
  try {
    await bootServing(again);
    m.store!.repl!.epochPublished(1); // its own epoch: nothing
    assert.equal(m.store!.repl!.serving, true);
    m.store!.repl!.epochPublished(2); // an election began
    assert.equal(m.store!.repl!.serving, false);
    assert.equal(m.store!.repl!.role, 'fenced');
    await electServing(2, m, again); // and it may win it
    assert.equal(m.store!.repl!.serving, true);
  } finally {
    await cleanupNodes(again);
  }
});
