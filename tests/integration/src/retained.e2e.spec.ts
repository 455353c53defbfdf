// Retained messages and wildcard subscriptions with real processes: a replicated group of 3
// behind ZooKeeper, coordinators and a gateway, clients speaking STOMP (@hawser/client).
// A SEND with `ActiveMQ.Retain: true` sets a topic's retained message; the master is killed
// (kill -9); a new subscriber on the new master gets it marked `ActiveMQ.Retained: true`.
// A wildcard subscriber `/topic/<p>.>` gets `<p>.b` and `<p>.b.c` (and `<p>` itself), not `<p>x`.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, checkFor } from './cluster';
import { Clients, unique, drain } from './support';
import type { Message } from '@hawser/client';

const RETAIN = { 'ActiveMQ.Retain': 'true' };
const show = (ms: Message[]) => ms.map((m) => `${m.destination} ${m.text}${m.header('ActiveMQ.Retained') === 'true' ? ' (retained)' : ''}`).sort();

describe('retained messages and wildcard topics over STOMP, across a kill -9 of the master', { timeout: 150_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'retained' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('a wildcard subscriber gets every matching topic, one copy per message', async () => {
    const p = unique('wild');
    const sub = await (await clients.connect()).subscribe(`/topic/${p}.>`);
    const star = await (await clients.connect()).subscribe(`/topic/${p}.*`);
    const producer = await clients.connect();
    for (const [t, body] of [[p, 'zero'], [`${p}.b`, 'one'], [`${p}.b.c`, 'two'], [`${p}x`, 'other topic']] as const) {
      await producer.send(`/topic/${t}`, body, { persistent: true });
    }
    const got = await checkFor(10_000, 50, async () => {
      const ms = await drain(sub, 300);
      assert.equal(ms.length, 3, `got ${show(ms).join(', ')}`);
      return ms;
    });
    assert.deepEqual(show(got), [`/topic/${p} zero`, `/topic/${p}.b one`, `/topic/${p}.b.c two`]);
    assert.deepEqual(show(await drain(star, 500)), [`/topic/${p}.b one`]);
    assert.deepEqual(await drain(sub, 500), [], 'nothing more');
  });

  it('a retained message set on the master is delivered, marked ActiveMQ.Retained, by the new master after kill -9', { timeout: 120_000 }, async (t) => {
    const p = unique('retained');
    const live = await (await clients.connect()).subscribe(`/topic/${p}.>`);
    const producer = await clients.connect();
    await producer.send(`/topic/${p}.status`, 'old', { persistent: true, headers: RETAIN });
    await producer.send(`/topic/${p}.status`, 'current', { persistent: true, headers: RETAIN });
    await producer.send(`/topic/${p}.gone`, 'to clear', { persistent: true, headers: RETAIN });
    await producer.send(`/topic/${p}.gone`, '', { persistent: true, headers: RETAIN });
    await producer.send(`/topic/${p}.plain`, 'not retained', { persistent: true });
    await producer.disconnect();
    // A subscriber present when they were sent gets them as ordinary messages (the clear too).
    const seen = await checkFor(10_000, 50, async () => {
      const ms = await drain(live, 300);
      assert.equal(ms.length, 5, show(ms).join(', '));
      return ms;
    });
    assert.ok(seen.every((m) => m.header('ActiveMQ.Retained') === undefined), 'live deliveries are not marked retained');

    const before = await c.waitForMaster();
    const oldId = c.idOf(before.store);
    assert.equal((await before.store.kill9())?.signal, 'SIGKILL');
    const next = await c.waitForMaster({ exclude: oldId, aboveEpoch: before.group.epoch, deadlineMs: 15_000 });
    t.diagnostic(`master ${oldId} killed; ${next.group.masterId} serves epoch ${next.group.epoch}`);

    // New subscribers on the new master (the gateway moved to it): exact and wildcard.
    const exact = await checkFor(20_000, 200, async () => (await clients.connect()).subscribe(`/topic/${p}.status`));
    const wild = await (await clients.connect()).subscribe(`/topic/${p}.*`);
    const exactGot = await checkFor(10_000, 50, async () => {
      const ms = await drain(exact, 300);
      assert.equal(ms.length, 1, show(ms).join(', '));
      return ms;
    });
    assert.deepEqual(show(exactGot), [`/topic/${p}.status current (retained)`]);
    assert.equal(exactGot[0]!.header('ActiveMQ.Retain'), 'true', 'the headers it was sent with are kept');
    assert.deepEqual(show(await drain(wild, 1000)), [`/topic/${p}.status current (retained)`], 'the cleared topic has none, the plain one never had');

    // Clear it on the new master: a later subscriber gets nothing.
    const producer2 = await clients.connect();
    await producer2.send(`/topic/${p}.status`, '', { persistent: true, headers: RETAIN });
    const late = await (await clients.connect()).subscribe(`/topic/${p}.>`);
    assert.deepEqual(await drain(late, 1000), []);
  });
});
