// The gateway's second home: every store node of a replicated group serves clients itself
// (--gateway.enabled). On the master a session talks to the broker core in-process; on a
// slave it goes to the master over gRPC and moves by itself when the master changes.
//   1. A client on a SLAVE node keeps its TCP connection through `kill -9` of the master
//      and loses nothing (the same scenario as a separate gateway's client).
//   2. Clients on the MASTER node (in-process) lose their node with it: they come back
//      through a failover URI listing every node and lose nothing acknowledged; the killed
//      node restarts and rejoins as a slave.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { FailoverClient } from '@hawser/client';
import { Cluster, checkFor } from './cluster';
import { httpGet, type Store } from './harness';
import { Clients } from './support';
import { failoverClientsThroughKill, throughMasterKill } from './scenarios';

/** hawser_gateway_channels_opened_total{channel} on a store node's /metrics. */
async function channelsOpened(store: Store, channel: 'local' | 'grpc'): Promise<number> {
  const { body } = await httpGet(store.httpPort, '/metrics');
  const m = new RegExp(`^hawser_gateway_channels_opened_total\\{[^}]*channel="${channel}"[^}]*\\} (\\d+)$`, 'm').exec(body);
  return m ? Number(m[1]) : 0;
}

describe('embedded gateways: a client on a slave node through a master kill -9', { timeout: 150_000 }, () => {
  let c: Cluster;
  let slave: Store;
  const clients = new Clients(() => slave.stompUri);
  before(async () => { c = await Cluster.start({ name: 'embedded-slave', embeddedGateways: true, gateways: 0 }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('keeps its TCP connection, every SEND is receipted, every receipted message consumed', { timeout: 120_000 }, async (t) => {
    const { store: master } = await c.waitForMaster();
    slave = c.stores.find((s) => s !== master)!;
    const client = await clients.connect({ receiptTimeoutMs: 30_000 });
    await client.send('/queue/embedded-probe', 'x', { persistent: true });
    assert.ok(await channelsOpened(slave, 'grpc') >= 1, 'the slave node carries its session to the master over gRPC');
    t.diagnostic(`client on slave ${c.idOf(slave)}; master ${c.idOf(master)}`);
    await throughMasterKill(t, c, client);
  });
});

describe('embedded gateways: clients on the master node come back through a failover URI', { timeout: 150_000 }, () => {
  let c: Cluster;
  const opened: FailoverClient[] = [];
  before(async () => { c = await Cluster.start({ name: 'embedded-master', embeddedGateways: true, gateways: 0 }); });
  afterEach((t) => c?.reportIfFailed(t));
  after(async () => {
    for (const f of opened) await f.disconnect({ timeoutMs: 2_000 }).catch(() => f.destroy());
    await c?.close();
  });

  it('in-process on the master; after its kill -9 nothing acknowledged is lost; the node rejoins as a slave', { timeout: 120_000 }, async (t) => {
    const { store: master, group: g0 } = await c.waitForMaster();
    const others = c.stores.filter((s) => s !== master);
    // The master's node first: randomize=false keeps the order.
    const uri = `failover:(${[master, ...others].map((s) => s.stompUri).join(',')})?randomize=false&initialReconnectDelay=20&maxReconnectDelay=500`;
    let localBefore = 0;
    await failoverClientsThroughKill(t, uri, opened, async () => {
      localBefore = await channelsOpened(master, 'local');
      assert.ok(localBefore >= 2, `producer and consumer run in-process on the master (local channels: ${localBefore})`);
      assert.equal(await channelsOpened(master, 'grpc'), 0, 'nothing on the master goes over gRPC');
      const killed = await master.kill9();
      assert.equal(killed?.signal, 'SIGKILL');
    }, master.stompUri);
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g0.epoch, deadlineMs: 15_000 });
    t.diagnostic(`master ${c.idOf(master)} -> ${next.group.masterId} (epoch ${g0.epoch} -> ${next.group.epoch})`);

    // The killed node comes back as a slave of the new master and serves clients again.
    await master.restart();
    await checkFor(30_000, 100, async () => {
      const topo = await c.topology();
      const g = topo.groups.find((x) => x.name === c.opts.group)!;
      const me = g.members.find((m) => m.id === c.idOf(master));
      assert.equal(me?.role, 'slave', `${c.idOf(master)} is ${me?.role ?? 'absent'}`);
    });
    const probe = new Clients(() => master.stompUri);
    try {
      const client = await probe.connect();
      await client.send('/queue/embedded-rejoin', 'back', { persistent: true });
      const sub = await client.subscribe('/queue/embedded-rejoin', { ack: 'auto' });
      assert.equal((await sub.next(10_000)).text, 'back');
      assert.ok(await channelsOpened(master, 'grpc') >= 1, 'as a slave, its clients reach the new master over gRPC');
    } finally {
      await probe.closeAll();
    }
  });
});
