// MQTT across the bridge (issue 11): an mqtt.js subscriber on group g2's gateway and an mqtt.js
// publisher on group g1's, the duplex bridge (apps/bridge) between them forwarding toward the
// MQTT subscription's demand — each QoS 1 publication arrives once, payload unchanged; and the
// other way a STOMP producer on g2 reaches an MQTT subscriber on g1. One store per group keeps
// the run light: what the bridge does across a master kill is bridge-replicated.e2e's subject.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { Cluster, checkFor, type Bridge } from './cluster';
import { Clients } from './support';

const MQTT_ARGS = ['--mqtt.enabled', 'true', '--mqtt.port', '0'];

describe('MQTT across the bridge (two groups, real ZooKeeper and coordinators)', { timeout: 180_000 }, () => {
  let g1: Cluster;
  let g2: Cluster;
  let bridge: Bridge;
  const open: mqtt.MqttClient[] = [];
  const stomp2 = new Clients(() => g2.gateway.stompUri);
  const client = async (g: Cluster, id: string) => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${g.gateway.field('mqttPort')}`, { clientId: id, reconnectPeriod: 0, protocolVersion: 4 });
    open.push(c);
    return c;
  };

  before(async () => {
    g1 = await Cluster.start({ name: 'mqtt-bridge', group: 'g1', stores: 1, replicas: 1, gatewayArgs: MQTT_ARGS });
    g2 = await Cluster.join(g1, { group: 'g2', stores: 1, replicas: 1, gatewayArgs: MQTT_ARGS });
    bridge = await g1.startBridge([g1, g2], { id: 'mb1' });
    await bridge.waitState('active');
  });
  afterEach(async (t) => {
    g1?.reportIfFailed(t);
    await Promise.all(open.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    await stomp2.closeAll();
  });
  after(() => g1?.close());

  it('an MQTT publisher on g1 reaches an MQTT subscriber on g2, each message once; STOMP on g2 reaches MQTT on g1', async (t) => {
    const topic = `br/${randomBytes(4).toString('hex')}`;
    const sub = await client(g2, `sub-${topic.slice(3)}`);
    const got: string[] = [];
    sub.on('message', (_t, p) => got.push(p.toString()));
    await sub.subscribeAsync(topic, { qos: 1 });
    const pub = await client(g1, `pub-${topic.slice(3)}`);
    // The bridge forwards once it has seen the subscription's demand: probe until one crosses.
    const t0 = Date.now();
    await checkFor(30_000, 300, async () => {
      await pub.publishAsync(topic, `probe-${Date.now()}`, { qos: 1 });
      assert.ok(got.some((g) => g.startsWith('probe-')), 'no probe across yet');
    });
    t.diagnostic(`demand seen and forwarded within ${Date.now() - t0} ms`);
    const bodies = Array.from({ length: 50 }, (_, i) => `m${i}-${'ü'.repeat(i % 3)}`);
    for (const b of bodies) await pub.publishAsync(topic, b, { qos: 1 });
    await checkFor(20_000, 50, () => assert.ok(bodies.every((b) => got.includes(b)), `${got.filter((g) => !g.startsWith('probe-')).length}/50 across`));
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would come right behind
    const mine = got.filter((g) => !g.startsWith('probe-'));
    assert.deepEqual(mine, bodies, 'each once, in order, unchanged');

    // The other way: STOMP on g2 -> MQTT on g1.
    const back = `br/${randomBytes(4).toString('hex')}`;
    const m1 = await client(g1, `back-${back.slice(3)}`);
    const got1: string[] = [];
    m1.on('message', (_t, p) => got1.push(p.toString()));
    await m1.subscribeAsync(back, { qos: 1 });
    const s2 = await stomp2.connect();
    await checkFor(30_000, 300, async () => {
      await s2.send(`/topic/${back.replace('/', '.')}`, `stomp-${Date.now()}`, { persistent: true });
      assert.ok(got1.some((g) => g.startsWith('stomp-')), 'no STOMP message across yet');
    });
  });
});
