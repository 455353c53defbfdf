// Replicated group, "Done means" (1): a group of 3 behind real ZooKeeper and coordinators.
// N persistent messages sent with receipts through a gateway, `kill -9` of the master, a new
// master is elected (higher epoch) and serves exactly those N (no loss, no duplicate); the
// old master restarts on its data dir, rejoins as a slave and catches up: its (epoch, last
// position) equals the master's, and — read from the RocksDB dirs once every store is
// stopped — its journal entries are byte-for-byte the master's.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, checkFor, readJournal, journalDiff, tally, compare } from './cluster';
import { Clients, unique, drain } from './support';
import type { Message } from '@hawser/client';

describe('replicated group: kill -9 of the master', { timeout: 150_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'repl-failover' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('consumes exactly the N receipted messages from the new master; the old master rejoins with an identical log', { timeout: 120_000 }, async (t) => {
    const N = 500;
    const q = unique('/queue/failover');
    const first = await c.waitForMaster();
    const oldMaster = first.store;
    const oldId = c.idOf(oldMaster);
    t.diagnostic(`master ${oldId} in epoch ${first.group.epoch}`);

    // 1. N persistent messages, 32 in flight, every one receipted (quorum_mem: a quorum holds it).
    const producer = await clients.connect();
    const w = producer.pipeline(32);
    const bodies = Array.from({ length: N }, (_, i) => `m${i}`);
    await Promise.all(bodies.map((b) => w.send(q, b, { persistent: true })));
    await producer.disconnect();

    // 2. kill -9 the master; a new one is elected in a higher epoch.
    const killedAt = Date.now();
    assert.equal((await oldMaster.kill9())?.signal, 'SIGKILL');
    const next = await c.waitForMaster({ exclude: oldId, aboveEpoch: first.group.epoch, deadlineMs: 15_000 });
    t.diagnostic(`new master ${next.group.masterId} in epoch ${next.group.epoch}, ${Date.now() - killedAt} ms after the kill`);

    // 3. Exactly those N from the new master, through the gateway (which moved to it).
    const consumer = await clients.connect();
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 100 });
    const all: Message[] = [];
    await checkFor(20_000, 0, async () => {
      for (const m of await drain(sub, 500)) { all.push(m); await m.ack(); }
      assert.ok(all.length >= N, `${all.length} of ${N} consumed so far`);
    });
    all.push(...(await drain(sub, 1000))); // anything more would be a duplicate
    const r = compare(bodies, tally(all));
    t.diagnostic(`consumed ${all.length}; lost ${r.lost.length}, duplicates ${r.duplicates.length}, unknown ${r.unknown.length}`);
    assert.deepEqual(r.lost.slice(0, 20), [], `${r.lost.length} receipted messages lost`);
    assert.deepEqual(r.duplicates.slice(0, 20), [], 'no message twice');
    assert.deepEqual(r.unknown, [], 'nothing that was not sent');
    assert.equal(all.length, N);
    await consumer.disconnect();

    // 4. The old master restarts on its data dir: it rejoins as a slave and catches up.
    await oldMaster.restart();
    const caught = await c.waitCaughtUp(oldMaster, 30_000);
    t.diagnostic(`old master ${oldId} rejoined: ${JSON.stringify(caught.slave)}; master ${JSON.stringify(caught.master)}`);
    assert.equal(caught.slave.role, 'slave');
    assert.equal(caught.slave.epoch, caught.master.epoch);
    assert.equal(caught.slave.lastPosition, caught.master.lastPosition);
    // Every store, not just the rejoined one, holds the same last position.
    const st = await checkFor(10_000, 100, async () => {
      const s = await c.statuses();
      const positions = [...s.values()].map((x) => `${x.node}:${x.role}:${x.epoch}:${x.lastPosition}`);
      assert.equal(s.size, 3, positions.join(' '));
      assert.equal(new Set([...s.values()].map((x) => x.lastPosition)).size, 1, positions.join(' '));
      return s;
    });
    t.diagnostic(`positions: ${[...st.values()].map((x) => `${x.node}=${x.role}/${x.epoch}/${x.lastPosition}`).join(' ')}`);

    // 5. The strong check: the journals on disk are identical. Stop the gateways and the
    // coordinators first (no new sessions, no election while the stores stop), then the stores.
    for (const g of c.gateways) await g.stop();
    for (const co of c.coordinators) await co.stop();
    for (const s of c.stores) assert.equal((await s.stop())?.code, 0, `${s.name} exits 0 on SIGTERM`);
    const journals = await Promise.all(c.stores.map((s) => readJournal(s.dataDir)));
    const masterIdx = c.stores.findIndex((s) => c.idOf(s) === next.group.masterId);
    const reference = journals[masterIdx]!;
    assert.ok(reference.size > N, `master journal holds ${reference.size} entries`);
    for (let i = 0; i < c.stores.length; i++) {
      if (i === masterIdx) continue;
      const d = journalDiff(reference, journals[i]!);
      assert.deepEqual(d, [], `${c.stores[i]!.name}'s journal differs from the master's (${c.stores[masterIdx]!.name})`);
    }
  });
});
