// docs/operations.md, "Replacing a store node": a slave's machine is lost (kill -9, its data
// directory gone) while a producer and a consumer run through a gateway; a new machine with an
// EMPTY data directory takes its node id, registers, and catches up from the master. Then the
// master is killed: the replacement, holding the log, is one of the two that elect a new master
// (quorum 2 of 3), and nothing receipted is lost. At the end the replacement's journal is the
// same as the other survivor's, entry for entry.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { Cluster, journalDiff, readJournal } from './cluster';
import { Clients, unique } from './support';
import { Load, assertNothingLost } from './load';

describe('operations: replacing a store node with an empty one under load', { timeout: 300_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'node-replace', stores: 3, coordinators: 2, gateways: 1 }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('an empty node with the lost one\'s id catches up and carries the group through a master kill -9', { timeout: 280_000 }, async (t) => {
    const producer = await clients.connect({ receiptTimeoutMs: 30_000 });
    const consumer = await clients.connect();
    const load = await Load.start(producer, consumer, unique('/queue/replace'));
    await load.receipts(500);

    const { store: master, group: g0 } = await c.waitForMaster();
    const [lost, other] = c.stores.filter((s) => s !== master);
    assert.ok(lost && other);
    const before = await c.status(master);
    // The machine is gone: no clean shutdown, no data.
    await lost.kill9();
    rmSync(lost.dataDir, { recursive: true, force: true });
    await load.receipts(300); // two of three keep the group going
    assert.ok(!existsSync(lost.dataDir));

    // The new machine: same node id, same ports, an empty data directory.
    const t0 = Date.now();
    await lost.restart(30_000);
    const { slave, master: ms } = await c.waitCaughtUp(lost, 90_000).catch(async (e: Error) => {
      throw new Error(`${e.message} (while load runs: ${load.receipted.size} receipts)`);
    });
    t.diagnostic(`${lost.name} rebuilt from empty: at position ${slave.lastPosition} (master ${ms.node} was at ${before.lastPosition} when it was lost) in ${Date.now() - t0} ms`);
    assert.ok(slave.lastPosition > before.lastPosition, 'it holds the log written before and after it was lost');
    assert.ok(readdirSync(lost.dataDir).length > 0);
    await load.receipts(300);

    // Its copy is real: the master dies, the replacement and the other slave elect one of them.
    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g0.epoch, deadlineMs: 30_000 });
    assert.ok([c.idOf(lost), c.idOf(other)].includes(next.group.masterId));
    await load.receipts(300);

    const r = await load.stop();
    t.diagnostic(`sent ${r.sent}, receipted ${r.receipted}, consumed ${r.consumed} (${r.redeliveries} redelivered copies); new master ${next.group.masterId} in epoch ${next.group.epoch}`);
    assertNothingLost(r);

    // The two survivors hold the same log.
    const slaveNow = next.store === lost ? other : lost;
    await c.waitCaughtUp(slaveNow, 30_000);
    await Promise.all([lost.stop(), other.stop()]);
    const diff = journalDiff(await readJournal(lost.dataDir), await readJournal(other.dataDir));
    assert.deepEqual(diff, [], `the replacement's journal differs from ${other.name}'s`);
  });
});
