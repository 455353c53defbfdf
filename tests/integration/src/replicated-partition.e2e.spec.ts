// Replicated group, "Done means" (4): a partitioned master. The master's process is frozen
// with SIGSTOP (a real partition from everything: ZooKeeper, slaves, coordinators, clients)
// for longer than its ZooKeeper session timeout, so its session expires while the process
// lives. A new master is elected in a higher epoch and serves the gateway's clients. Then
// SIGCONT: the old master wakes up believing it is master, with SENDs from a client connected
// straight to it (Broker.Session) already waiting in its socket. It must acknowledge none of
// them (fencing: its session is gone and the slaves promised a newer epoch), step down, and
// rejoin as a slave; no receipted message is lost and none of its un-receipted ones appears.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@hawser/client';
import { TestSession } from '@hawser/store/dist/testing';
import { Cluster, checkFor, sleep, tally, compare } from './cluster';
import { Clients, unique, drain } from './support';

const SESSION_TIMEOUT_MS = 1000;

describe('replicated group: a partitioned master (ZooKeeper session expired, process alive)', { timeout: 150_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  const direct: TestSession[] = [];
  before(async () => { c = await Cluster.start({ name: 'repl-partition', tickTime: 200, sessionTimeoutMs: SESSION_TIMEOUT_MS }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    for (const s of direct.splice(0)) s.close();
    await clients.closeAll();
  });
  after(() => c?.close());

  it('acknowledges nothing after the new epoch, steps down, and no message is lost', { timeout: 120_000 }, async (t) => {
    const q = unique('/queue/partition');
    const { store: old, group: g0 } = await c.waitForMaster();
    const oldId = c.idOf(old);

    // 1. Receipted through the gateway while healthy.
    const producer = await clients.connect({ receiptTimeoutMs: 30_000 });
    const w = producer.pipeline(16);
    const before = Array.from({ length: 100 }, (_, i) => `a${i}`);
    await Promise.all(before.map((b) => w.send(q, b, { persistent: true })));

    // 2. A client connected straight to the master's Broker.Session; it works now.
    const s = new TestSession(old.address);
    direct.push(s);
    await s.open();
    const okId = s.send(q, 'd-before', { id: 'd-before' });
    await s.receipted([okId], 10_000);

    // 3. Freeze the master longer than its ZooKeeper session timeout.
    const pausedAt = Date.now();
    c.pause(old);
    const next = await c.waitForMaster({ exclude: oldId, aboveEpoch: g0.epoch, deadlineMs: 20_000 });
    t.diagnostic(`new master ${next.group.masterId} epoch ${next.group.epoch} (old ${oldId} epoch ${g0.epoch}) ${Date.now() - pausedAt} ms after SIGSTOP`);
    // Its member znode (ephemeral, its own session) disappears: the session really expired.
    await checkFor(SESSION_TIMEOUT_MS * 10, 100, async () => {
      const g = await c.group();
      assert.ok(!g.members.some((m) => m.id === oldId), `${oldId} still listed as a member (${g.members.map((m) => `${m.id}:${m.role}`).join(' ')})`);
    });
    const expiredAfter = Date.now() - pausedAt;
    t.diagnostic(`member znode of ${oldId} gone ${expiredAfter} ms after SIGSTOP`);
    // The server counts the timeout from the client's last ping (sent every third of it),
    // so expiry comes between 2/3 of the timeout and the timeout (plus a tick) after SIGSTOP.
    assert.ok(expiredAfter >= SESSION_TIMEOUT_MS / 2, `expired ${expiredAfter} ms after SIGSTOP: sooner than the session timeout allows`);

    // 4. The group serves through the gateway meanwhile.
    const during = Array.from({ length: 50 }, (_, i) => `b${i}`);
    await Promise.all(during.map((b) => w.send(q, b, { persistent: true })));

    // 5. SENDs to the frozen old master wait in its socket; more right after SIGCONT.
    const K = 20;
    const stale: string[] = [];
    const staleIds: number[] = [];
    for (let i = 0; i < K; i++) { const b = `x-paused-${i}`; stale.push(b); staleIds.push(s.send(q, b, { id: b })); }
    await sleep(200); // let them reach the kernel buffer of the frozen process
    c.resume(old);
    for (let i = 0; i < K; i++) { const b = `x-resumed-${i}`; stale.push(b); staleIds.push(s.send(q, b, { id: b })); }

    // 6. It steps down (never master in the old epoch again) ...
    const stepped = await checkFor(15_000, 50, async () => {
      const st = await c.status(old);
      assert.notEqual(st.role, 'master', `${oldId} still says master (epoch ${st.epoch})`);
      return st;
    });
    t.diagnostic(`old master after SIGCONT: role ${stepped.role}, epoch ${stepped.epoch}`);
    // ... and rejoins as a slave of the new master, caught up.
    const caught = await c.waitCaughtUp(old, 30_000);
    t.diagnostic(`rejoined: ${JSON.stringify(caught.slave)}`);
    // No receipt for any SEND that reached it after the new epoch, even given time.
    await sleep(1000);
    const got = [...s.receipts()].filter((id) => staleIds.includes(id));
    const errs = s.events.filter((e) => e.kind === 'error').map((e) => JSON.stringify(e));
    t.diagnostic(`direct session: ${got.length} receipts of ${staleIds.length} stale SENDs; errors: ${errs.slice(0, 3).join(' ') || 'none'}; ended ${s.ended}`);
    assert.deepEqual(got, [], 'the partitioned old master acknowledged SENDs after the new epoch');

    // 7. Nothing lost: everything receipted (gateway and the direct one before) is consumed
    // exactly once; none of the un-receipted stale SENDs appears (their tail was dropped).
    const consumer = await clients.connect();
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 200 });
    const expected = [...before, ...during, 'd-before'];
    const all: Message[] = [];
    await checkFor(20_000, 0, async () => {
      for (const m of await drain(sub, 500)) { all.push(m); await m.ack(); }
      assert.ok(all.length >= expected.length, `${all.length} of ${expected.length} consumed so far`);
    });
    all.push(...(await drain(sub, 1000)));
    const r = compare(expected, tally(all));
    assert.deepEqual(r.lost.slice(0, 20), [], `${r.lost.length} receipted messages lost`);
    assert.deepEqual(r.duplicates, [], 'no duplicates');
    assert.deepEqual(r.unknown, [], 'no un-receipted SEND to the fenced master was kept');
  });
});
