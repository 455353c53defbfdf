// The Forwarder in-process against real store processes, with a MasterDirectory the test
// drives: a group's master moves to another store and the bridge follows it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createLogger, createRegistry } from '@hawser/observability';
import { Link } from '@hawser/network';
import { Forwarder } from './forwarder';
import { BridgeMetrics } from './metrics';
import type { MasterDirectory, MasterInfo } from './masters';
import { checkFor, exactlyOnce, TestClient, TestEnv } from './testkit';

class MovableMasters implements MasterDirectory {
  private readonly ev = new EventEmitter();
  constructor(private readonly masters: Map<string, MasterInfo>) {}
  master(g: string) { return this.masters.get(g); }
  describe() { return 'test'; }
  onChange(fn: (g: string, m: MasterInfo | undefined) => void) { this.ev.on('change', fn); }
  start() {}
  stop() {}
  move(g: string, address: string, epoch: number) { this.masters.set(g, { id: address, address, epoch }); this.ev.emit('change', g, this.masters.get(g)); }
}

const env = new TestEnv();
const clients: TestClient[] = [];
after(async () => { for (const c of clients) c.close(); await env.close(); });

test('a group master moves: the network session follows and forwarding goes on', async () => {
  const [a, b, c] = await Promise.all([env.store('g1', 'g1a'), env.store('g2', 'g2'), env.store('g1', 'g1b')]);
  const masters = new MovableMasters(new Map([['g1', { id: 'a', address: a.address, epoch: 1 }], ['g2', { id: 'b', address: b.address, epoch: 1 }]]));
  const fw = new Forwarder({
    bridgeId: 't', linkName: 'g1-g2', prefetch: 50, demandPollMs: 50, masters,
    link: new Link({ link: 'g1-g2', groups: ['g1', 'g2'], duplex: true, networkTTL: 1, dynamicOnly: false, staticallyIncludedDestinations: [], excludedDestinations: [], conduitSubscriptions: true, decreaseNetworkConsumerPriority: true }),
    metrics: new BridgeMetrics(createRegistry('bridge-spec')),
    log: createLogger({ service: 'bridge-spec', level: 'silent' }),
  });
  try {
    fw.start();
    const consumer = new TestClient(b.address, 'cons'); clients.push(consumer);
    const sub = await consumer.subscribe('/queue/move');
    const pa = new TestClient(a.address, 'pa'); clients.push(pa);
    const first = Array.from({ length: 50 }, (_, i) => `mv-a-${i}`);
    for (const id of first) await pa.send('/queue/move', id, id);
    await checkFor(10_000, 20, () => assert.equal(consumer.ids(sub).length, first.length));
    masters.move('g1', c.address, 2);
    const pc = new TestClient(c.address, 'pc'); clients.push(pc);
    const second = Array.from({ length: 50 }, (_, i) => `mv-c-${i}`);
    for (const id of second) await pc.send('/queue/move', id, id);
    await checkFor(10_000, 20, () => assert.equal(consumer.ids(sub).length, first.length + second.length));
    assert.deepEqual(exactlyOnce([...first, ...second], consumer.ids(sub)), { lost: [], duplicates: [], unknown: [] });
    const st = fw.status() as { groups: Record<string, { master: { address: string } }> };
    assert.equal(st.groups.g1!.master.address, c.address);
  } finally {
    fw.close();
  }
});
