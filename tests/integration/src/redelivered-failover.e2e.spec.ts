// D1 of docs/reliability.md, end to end: a queue with two consumers on a replicated group
// behind a gateway. Consumer A gets a message and holds it (no ack); the master is killed
// (kill -9) and A's connection dies with it, before any new master exists. The new master
// cannot know the message was delivered (deliveries are not journaled) and gives it to the
// other consumer, B — whose gateway session never saw it — and that copy must say
// redelivered:true (JMS: "may have been delivered"). A message sent after the failover is not
// marked.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './cluster';
import { Clients, unique } from './support';

describe('replicated group: a copy of a message delivered by a killed master is marked redelivered on another consumer', { timeout: 120_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'redelivered-failover' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('A holds it, the master is kill -9ed, B gets it with redelivered:true and delivery-count 2', async (t) => {
    const q = unique('/queue/d1');
    const first = await c.waitForMaster();
    const a = await clients.connect();
    const subA = await a.subscribe(q, { ack: 'client-individual', prefetch: 1 });
    const producer = await clients.connect();
    await producer.send(q, 'held', { persistent: true });
    const got = await subA.next(10_000);
    assert.equal(got.text, 'held');
    assert.equal(got.redelivered, false, 'first delivery');
    // B subscribes only now: the message is A's.
    const b = await clients.connect();
    const subB = await b.subscribe(q, { ack: 'client-individual', prefetch: 10 });
    assert.equal(await subB.tryNext(300), undefined, 'B has nothing while A holds it');

    await first.store.kill9();
    a.destroy(); // A dies too, before a new master exists: its session never reaches one
    const next = await c.waitForMaster({ exclude: c.idOf(first.store), aboveEpoch: first.group.epoch, deadlineMs: 20_000 });
    t.diagnostic(`master ${c.idOf(first.store)} -> ${next.group.masterId} (epoch ${next.group.epoch})`);

    const again = await subB.next(20_000);
    assert.equal(again.text, 'held');
    assert.equal(again.redelivered, true, 'the copy on the other consumer is marked (D1)');
    assert.equal(again.deliveryCount, 2);
    await again.ack();

    const p2 = await clients.connect();
    await p2.send(q, 'after', { persistent: true });
    const fresh = await subB.next(10_000);
    assert.equal(fresh.text, 'after');
    assert.equal(fresh.redelivered, false, 'a message the new master took itself is not marked');
    await fresh.ack();
  });
});
