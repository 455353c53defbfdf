// Client failover (docs/architecture.md, gateway failover's first layer): two real gateways in
// front of one real store; a producer and a consumer on failover:(gw1,gw2); kill -9 gw1
// mid-stream. Both continue on gw2 by themselves; every receipted message is consumed
// (none missing), and every extra delivery of a message is a redelivery (dedup by message-id
// on the consumer side counts them).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { FailoverClient } from '@hawser/client';
import { Harness, type Gateway } from './harness';
import { failoverClientsThroughKill } from './scenarios';

describe('client failover between gateways', { timeout: 120_000 }, () => {
  const h = new Harness('client-failover');
  let gw1: Gateway;
  let gw2: Gateway;
  const opened: FailoverClient[] = [];
  before(async () => {
    const store = await h.startStore();
    gw1 = await h.startGateway(store);
    gw2 = await h.startGateway(store);
  });
  afterEach((t) => h.reportIfFailed(t));
  after(async () => {
    for (const c of opened) await c.disconnect({ timeoutMs: 2_000 }).catch(() => c.destroy());
    await h.close();
  });

  it('kill -9 of the gateway in use: producer and consumer move to the other; every receipted message is consumed, duplicates are redeliveries', { timeout: 90_000 }, async (t) => {
    const uri = `failover:(${gw1.stompUri},${gw2.stompUri})?randomize=false&initialReconnectDelay=20&maxReconnectDelay=500`;
    const { producer, consumer } = await failoverClientsThroughKill(t, uri, opened, async () => {
      const killed = await gw1.kill9();
      assert.equal(killed?.signal, 'SIGKILL');
    }, gw1.stompUri);
    assert.equal(producer.uri, gw2.stompUri);
    assert.equal(consumer.uri, gw2.stompUri);
  });
});
