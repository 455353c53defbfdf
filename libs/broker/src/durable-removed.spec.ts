// A durable subscription that goes (an UNSUBSCRIBE that removes it, a SUBSCRIBE that replaces it
// on another topic or selector, Admin.Delete of its backlog) takes its backlog with it: nothing of the
// core keeps its storage queue. Found by the fuzzer (docs/security.md, "Fuzzing"): a backlog
// holding a message with an expiry stayed in the core's expiring set, with every message it held,
// until the last of them expired — never, for a far expiry — and was dead-lettered then.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerCore } from './core';
import { Harness } from './testing';

const DLQ = '/queue/ActiveMQ.DLQ';
/** The core's queues with a message that may expire (a private set: the bound is what this spec is about). */
const expiring = (core: BrokerCore) => (core as unknown as { expiring: Set<unknown> }).expiring.size;

function offlineDurable(h: Harness, sid: string, clientId: string, name: string, topic = '/topic/t'): void {
  h.open(sid, clientId);
  h.take(sid);
  h.subscribe(sid, 's', topic, { durableName: name });
  h.end(sid);
}

describe('a removed durable subscription lets its backlog go', () => {
  test('Admin.Delete: its expiring messages are not dead-lettered later, and no queue is kept (replica too)', () => {
    const h = new Harness();
    h.open('p');
    h.take('p');
    offlineDurable(h, 'd', 'cid', 'n');
    h.send('p', '/topic/t', 'far', { expires: h.now + 3_600_000 });
    h.send('p', '/topic/t', 'near', { expires: h.now + 1_000 });
    h.send('p', '/topic/t', 'never');
    assert.equal(expiring(h.core), 1);
    assert.deepEqual(h.core.deleteDestination('durable:cid:n', h.now), { ok: true, removed: 3 });
    h.pump();
    const entries = h.entries.length;
    h.tick(2 * 3_600_000);
    assert.equal(h.depth(DLQ), 0, 'nothing of the deleted subscription is dead-lettered when it expires');
    assert.equal(h.entries.length, entries, 'nothing journaled for it');
    assert.equal(expiring(h.core), 0, 'the core keeps no reference to its queue');
    const r = new BrokerCore(h.opts);
    r.replay(h.entries, h.now);
    assert.equal(expiring(r), 0, 'a replica neither');
  });

  test('an UNSUBSCRIBE that removes it, and a SUBSCRIBE that replaces it, 100 times each: the expiring set stays empty', () => {
    const h = new Harness();
    h.open('p');
    h.take('p');
    for (let i = 0; i < 100; i++) {
      // Replaced: the same client id and name on another topic drops the backlog (JMS).
      offlineDurable(h, `a${i}`, 'cid', 'n', `/topic/r${i % 2}`);
      h.send('p', `/topic/r${i % 2}`, `m${i}`, { expires: h.now + 3_600_000 });
      // Removed: subscribe again, unsubscribe with removeDurable.
      h.open(`b${i}`, 'cid2');
      h.take(`b${i}`);
      h.subscribe(`b${i}`, 's', '/topic/t', { durableName: 'm' });
      h.end(`b${i}`);
      h.send('p', '/topic/t', `k${i}`, { expires: h.now + 3_600_000 });
      h.open(`c${i}`, 'cid2');
      h.take(`c${i}`);
      h.subscribe(`c${i}`, 's', '/topic/t', { durableName: 'm' });
      h.request(`c${i}`, { kind: 'unsubscribe', unsubscribe: { subscriptionId: 's', removeDurable: true } });
      h.end(`c${i}`);
    }
    // The last replacement's backlog is live (one message): everything before it went.
    assert.ok(expiring(h.core) <= 1, `${expiring(h.core)} queues kept for their expiring messages`);
    h.tick(2 * 3_600_000);
    assert.equal(h.depth(DLQ), 1, 'only the live subscription\'s message expired into the DLQ');
  });
});
