// docs/operations.md, "Adding a store node" (growing a group): a group of 3 grows to 4 under a
// producer with a receipt per message and a consumer through a gateway, the way the procedure
// says — the new node starts with `--replicas 4` and an empty data directory, then the old
// members are restarted one at a time with `--replicas 4`, slaves first, the master last.
//
// A master that says 3 replicates to the 2 slaves it was assigned (never more than replicas-1);
// the new node is a standby meanwhile (the master's heartbeats, no entries) and catches up under
// the master elected after the last restart, which says 4. At the end the group counts 4 (quorum 3): the master is killed, the
// three left (the new node among them) are exactly a quorum, and the new master's receipt needs
// both other survivors' acks — the new node's included. Nothing receipted is lost, and the
// survivors' journals are the same entry for entry.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, checkFor, setArg, stopAndCompareJournals, type Store } from './cluster';
import { Clients, roundTrip, unique } from './support';
import { Load, assertNothingLost } from './load';

describe('operations: growing a group from 3 to 4 stores under load', { timeout: 300_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'grow-group', stores: 3, coordinators: 2, gateways: 1 }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  /** `s` is a slave of the current master's epoch within `maxLag` entries (usable while traffic flows). */
  const waitSlave = (s: Store, maxLag: number, deadlineMs: number) => checkFor(deadlineMs, 100, async () => {
    const m = await c.master(2000);
    const [ms, ss] = await Promise.all([c.status(m), c.status(s)]);
    assert.ok(ss.role === 'slave' && ss.epoch === ms.epoch && ms.lastPosition - ss.lastPosition <= maxLag,
      `${ss.node}: ${ss.role} epoch ${ss.epoch} last ${ss.lastPosition}; master ${ms.node} epoch ${ms.epoch} last ${ms.lastPosition}`);
    return ss;
  });

  it('a new node with --replicas 4, then a rolling restart with --replicas 4: it catches up and carries commits', { timeout: 280_000 }, async (t) => {
    const producer = await clients.connect({ receiptTimeoutMs: 30_000 });
    const consumer = await clients.connect();
    const load = await Load.start(producer, consumer, unique('/queue/grow'));
    await load.receipts(300);
    const { store: master0, group: g0 } = await c.waitForMaster();
    assert.equal(g0.replicas, 3);
    const old = [...c.stores];

    // 1. The new node: empty data directory, its own id, --replicas 4.
    const s4 = await c.startStore('s4', ['--replicas', '4']);
    const counted = await checkFor(20_000, 100, async () => {
      const g = await c.group();
      assert.ok(g.replicas === 4 && g.members.length === 4 && g.state === 'ok', `group: ${g.state}, replicas ${g.replicas}, members ${g.members.map((m) => m.id).join(',')}: ${g.message}`);
      return g;
    });
    t.diagnostic(`s4 registered: the coordinators count ${counted.replicas} (quorum 3); master ${counted.masterId} in epoch ${counted.epoch}`);
    await load.receipts(100);
    const early = await c.status(s4);
    t.diagnostic(`s4 under the master that says 3: role ${early.role}, last position ${early.lastPosition}`);

    // 2. The old members, one at a time, with --replicas 4: slaves first, the master last.
    let beforeLast = 0;
    for (const s of [...old.filter((x) => x !== master0), master0]) {
      const wasMaster = s === master0;
      const t0 = Date.now();
      if (wasMaster) beforeLast = (await c.status(s)).lastPosition;
      setArg(s, '--replicas', '4');
      assert.deepEqual(await s.stop(15_000), { code: 0, signal: null }, `${s.name} exits 0 on SIGTERM`);
      if (wasMaster) await c.waitForMaster({ exclude: c.idOf(s), aboveEpoch: g0.epoch, deadlineMs: 30_000 });
      await load.receipts(100);
      await s.restart(30_000);
      await waitSlave(s, 2000, 60_000);
      t.diagnostic(`${s.name}${wasMaster ? ' (master)' : ''} restarted with --replicas 4 in ${Date.now() - t0} ms; ${load.receipted.size} receipts so far`);
    }

    // 3. The master elected after the last restart says 4: it replicates to 3 slaves, s4 among them.
    const t1 = Date.now();
    const { master } = await c.waitHealthy(2000, 90_000);
    const g2 = await c.group();
    t.diagnostic(`every member within 2,000 entries of master ${master.name} ${Date.now() - t1} ms after the last restart; epoch ${g0.epoch} -> ${g2.epoch} (one election per master restart; the standby's reports made more: D19)`);
    await load.receipts(200);
    const r = await load.stop();
    t.diagnostic(`sent ${r.sent}, receipted ${r.receipted}, consumed ${r.consumed} (${r.redeliveries} redelivered copies)`);
    assertNothingLost(r);
    const { slave: caught } = await c.waitCaughtUp(s4, 30_000);
    assert.ok(caught.lastPosition > beforeLast, `s4 holds the log written before the master's restart (at ${caught.lastPosition}; the master was at ${beforeLast})`);

    // 4. The new node's copy is real. The master dies: of 4, the 3 left are exactly a quorum, so
    // all three (s4 among them) promise in the election, and the new master (its quorum 3: itself
    // and both others) receipts nothing that s4 did not take.
    const g1 = await c.group();
    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g1.epoch, deadlineMs: 30_000 });
    await roundTrip(producer, consumer, '/queue/grow-after');
    const survivors = c.stores.filter((s) => s.alive);
    assert.equal(survivors.length, 3);
    assert.ok(survivors.includes(s4));
    const s4Status = await c.status(s4);
    t.diagnostic(`new master ${next.group.masterId} in epoch ${next.group.epoch}; s4 ${s4Status.role} at ${s4Status.lastPosition}`);
    assert.deepEqual(await stopAndCompareJournals(c, next.store), [], 'the survivors\' journals are the same');
  });
});
