// Replicated group: a killed master is found by its slaves' links, not by timeouts. kill -9
// closes the master's sockets at once; each slave's replication stream fails with UNAVAILABLE
// and the slave reports masterLost right away (libs/replication `masterUnreachable`). Here the
// ZooKeeper session and the slaves' silence timeout are 30 s, so a new master within 10 s of
// the kill can only come from those reports; nothing receipted is lost.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, checkFor, tally, compare } from './cluster';
import { Clients, unique, drain } from './support';
import type { Message } from '@hawser/client';

const LONG_MS = 30_000;

describe('replicated group: a killed master is reported by its slaves\' broken links', { timeout: 150_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  // ZooKeeper allows sessions up to 20 ticks: a 2 s tick for a 30 s session.
  before(async () => { c = await Cluster.start({ name: 'master-unreachable', tickTime: 2000, sessionTimeoutMs: LONG_MS, masterTimeoutMs: LONG_MS }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('elects a new master long before any timeout could, and loses nothing receipted', { timeout: 120_000 }, async (t) => {
    const N = 200;
    const q = unique('/queue/unreachable');
    const first = await c.waitForMaster({ deadlineMs: 60_000 });
    const oldId = c.idOf(first.store);
    const producer = await clients.connect();
    const w = producer.pipeline(16);
    const bodies = Array.from({ length: N }, (_, i) => `u${i}`);
    await Promise.all(bodies.map((b) => w.send(q, b, { persistent: true })));
    await producer.disconnect();

    const killedAt = Date.now();
    assert.equal((await first.store.kill9())?.signal, 'SIGKILL');
    // Well under the 30 s either timeout would take (the bound is the path, not a speed figure).
    const next = await c.waitForMaster({ exclude: oldId, aboveEpoch: first.group.epoch, deadlineMs: 10_000 });
    t.diagnostic(`new master ${next.group.masterId} in epoch ${next.group.epoch}, ${Date.now() - killedAt} ms after the kill`);
    const reported = c.stores.filter((s) => s !== first.store).flatMap((s) => s.logLines(/reporting masterLost/));
    assert.ok(reported.length >= 1, 'a slave reported masterLost');

    const consumer = await clients.connect();
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 100 });
    const all: Message[] = [];
    await checkFor(30_000, 0, async () => {
      for (const m of await drain(sub, 500)) { all.push(m); await m.ack(); }
      assert.ok(all.length >= N, `${all.length} of ${N} consumed so far`);
    });
    const r = compare(bodies, tally(all));
    assert.deepEqual(r.lost, [], 'no receipted message lost');
    assert.deepEqual(r.unknown, [], 'nothing that was not sent');
  });
});
