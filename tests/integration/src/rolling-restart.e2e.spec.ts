// docs/operations.md, "Rolling restart": every store of a replicated group of 3 restarted one at
// a time (SIGTERM, start again on the same data directory) while a producer sends persistent
// messages with a receipt each through a gateway and a consumer acks them — the slaves first,
// each caught up before the next, then the master, whose SIGTERM makes the coordinators elect
// another. Nothing receipted is lost, nothing is stored twice, no SEND fails and neither client
// connection closes.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, checkFor } from './cluster';
import { httpGet } from './harness';
import { Clients, unique } from './support';
import { Load, assertNothingLost } from './load';

describe('operations: rolling restart of a group of 3 under load', { timeout: 300_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'rolling-restart', stores: 3, coordinators: 2, gateways: 1 }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('restarts s-slaves then the master, one at a time; nothing receipted is lost', { timeout: 280_000 }, async (t) => {
    const producer = await clients.connect({ receiptTimeoutMs: 30_000 });
    const consumer = await clients.connect();
    const load = await Load.start(producer, consumer, unique('/queue/rolling'));
    await load.receipts(300);

    const { store: master0, group: g0 } = await c.waitForMaster();
    const order = [...c.stores.filter((s) => s !== master0), master0];
    for (const s of order) {
      const wasMaster = s === master0;
      const t0 = Date.now();
      const exit = await s.stop(15_000);
      assert.deepEqual(exit, { code: 0, signal: null }, `${s.name} exits 0 on SIGTERM`);
      if (wasMaster) await c.waitForMaster({ exclude: c.idOf(s), aboveEpoch: g0.epoch, deadlineMs: 20_000 });
      await load.receipts(100); // the group goes on with two of three
      await s.restart(30_000);
      // back as a slave, within reach of the master, before the next one goes
      await c.waitHealthy(2000, 60_000);
      // every store, slaves too, answers /readyz 200: what a Kubernetes rolling update and the
      // PodDisruptionBudget (deploy/kubernetes/hawser.yaml) wait for before the next pod goes
      for (const x of c.stores) await checkFor(15_000, 100, async () => assert.equal((await httpGet(x.httpPort, '/readyz')).status, 200, `${x.name} /readyz`));
      t.diagnostic(`${s.name}${wasMaster ? ' (master)' : ''} restarted and caught up in ${Date.now() - t0} ms; ${load.receipted.size} receipts so far`);
      await load.receipts(100);
    }
    const { group } = await c.waitForMaster();
    assert.notEqual(group.masterId, c.idOf(master0), 'the old master handed over');

    const r = await load.stop();
    t.diagnostic(`sent ${r.sent}, receipted ${r.receipted}, consumed ${r.consumed} (${r.redeliveries} redelivered copies); master ${c.idOf(master0)} -> ${group.masterId}, epoch ${g0.epoch} -> ${group.epoch}`);
    assertNothingLost(r);
  });
});
