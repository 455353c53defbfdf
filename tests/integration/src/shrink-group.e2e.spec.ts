// docs/operations.md, "Shrinking a group": a group of 4 shrinks to 3 under a producer with a
// receipt per message and a consumer through a gateway, in the order the procedure gives — the
// members that stay are restarted with `--replicas 3` one at a time (slaves first) while the
// leaving member and the master run on; then the leaving member stops for good; then the master
// is restarted with `--replicas 3` and hands over. Stopping the leaving member first would leave
// 3 alive at size 4 (quorum 3), and each restart after it would take the group below its quorum.
// Nothing receipted is lost, no SEND fails, no client connection closes; at the end the group
// counts 3 and carries on through a kill -9 of its master (the two left are its quorum).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, checkFor, setArg, stopAndCompareJournals } from './cluster';
import { Clients, roundTrip, unique } from './support';
import { Load, assertNothingLost } from './load';

describe('operations: shrinking a group from 4 stores to 3 under load', { timeout: 300_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'shrink-group', stores: 4, coordinators: 2, gateways: 1 }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('the staying slaves at --replicas 3, the leaving member stopped, then the master: nothing lost, the group counts 3', { timeout: 280_000 }, async (t) => {
    const producer = await clients.connect({ receiptTimeoutMs: 30_000 });
    const consumer = await clients.connect();
    const load = await Load.start(producer, consumer, unique('/queue/shrink'));
    await load.receipts(300);
    const { store: master0, group: g0 } = await c.waitForMaster();
    assert.equal(g0.replicas, 4);
    const slaves = c.stores.filter((s) => s !== master0);
    const leaving = slaves[slaves.length - 1]!;
    const staying = slaves.filter((s) => s !== leaving);

    // 1. The staying slaves, one at a time, with --replicas 3 (3 of 4 alive each time: a quorum of 4).
    for (const s of staying) {
      const t0 = Date.now();
      setArg(s, '--replicas', '3');
      assert.deepEqual(await s.stop(15_000), { code: 0, signal: null }, `${s.name} exits 0 on SIGTERM`);
      await load.receipts(100);
      await s.restart(30_000);
      await c.waitHealthy(2000, 60_000);
      t.diagnostic(`${s.name} restarted with --replicas 3 in ${Date.now() - t0} ms; ${load.receipted.size} receipts so far`);
    }

    // 2. The leaving member, for good.
    assert.deepEqual(await leaving.stop(15_000), { code: 0, signal: null }, `${leaving.name} exits 0 on SIGTERM`);
    await load.receipts(100);
    const between = await c.group();
    t.diagnostic(`${leaving.name} gone: the group counts ${between.replicas} (its master still says 4), ${between.members.length} members, ${between.state}`);
    assert.equal(between.state, 'ok');

    // 3. The master, with --replicas 3: it hands over, and every member says 3.
    setArg(master0, '--replicas', '3');
    assert.deepEqual(await master0.stop(15_000), { code: 0, signal: null }, `${master0.name} exits 0 on SIGTERM`);
    const moved = await c.waitForMaster({ exclude: c.idOf(master0), aboveEpoch: g0.epoch, deadlineMs: 30_000 });
    await load.receipts(100);
    await master0.restart(30_000);
    const counted = await checkFor(30_000, 100, async () => {
      const g = await c.group();
      assert.ok(g.replicas === 3 && g.members.length === 3 && g.state === 'ok', `group: ${g.state}, replicas ${g.replicas}, members ${g.members.map((m) => m.id).join(',')}: ${g.message}`);
      return g;
    });
    t.diagnostic(`every member says 3: master ${counted.masterId} in epoch ${counted.epoch} (was ${moved.group.masterId} right after the hand-over)`);
    await load.receipts(200);

    const r = await load.stop();
    t.diagnostic(`sent ${r.sent}, receipted ${r.receipted}, consumed ${r.consumed} (${r.redeliveries} redelivered copies)`);
    assertNothingLost(r);

    // Every member of the group of 3 holds the log: both slaves catch up with the master.
    const master = await c.master();
    const remaining = c.stores.filter((s) => s.alive);
    assert.equal(remaining.length, 3);
    for (const s of remaining) if (s !== master) await c.waitCaughtUp(s, 30_000);

    // A group of 3 again: its master dies, the two left are its quorum.
    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: counted.epoch, deadlineMs: 30_000 });
    await roundTrip(producer, consumer, '/queue/shrink-after');
    assert.deepEqual(await stopAndCompareJournals(c, next.store), [], 'the two survivors\' journals are the same');
  });
});
