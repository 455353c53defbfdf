// MQTT through a master `kill -9` (issue 11 "Failover"): mqtt.js clients we did not write,
// connected to a separate gateway of a replicated group, publish at QoS 1 and 2 and consume
// through a persistent session at QoS 2 while the group's master is killed. Their connections
// never close; every publication the gateway confirmed (PUBACK / PUBCOMP) is consumed; none is
// lost; and no QoS 2 message arrives twice (the QoS 2 state — PUBREC/PUBREL records and the
// store's dedup — lives in the replicated store, docs/architecture.md "MQTT: session state").
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Cluster, checkFor } from './cluster';
import { ROOT } from './harness';

type Client = mqtt.MqttClient;

async function connectMqtt(url: string, opts: mqtt.IClientOptions): Promise<Client> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, keepalive: 30, ...opts });
}

describe('MQTT through a master kill -9 (replicated group, separate gateway)', { timeout: 180_000 }, () => {
  let c: Cluster;
  const open: Client[] = [];
  before(async () => { c = await Cluster.start({ name: 'mqtt-failover', gatewayArgs: ['--mqtt.enabled', 'true', '--mqtt.port', '0'] }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await Promise.all(open.map((x) => x.endAsync(true).catch(() => undefined)));
  });
  after(() => c?.close());

  it('keeps the connections; no QoS 1/2 message lost, no QoS 2 message twice', { timeout: 150_000 }, async (t) => {
    const url = `mqtt://127.0.0.1:${c.gateway.field('mqttPort')}`;
    const topic = `fo/${randomBytes(4).toString('hex')}`;
    const closes: string[] = [];
    const sub = await connectMqtt(url, { clientId: `fo-sub-${topic.slice(3)}`, clean: false });
    open.push(sub);
    sub.on('close', () => closes.push('subscriber'));
    const got: Array<{ text: string; qos: number }> = [];
    sub.on('message', (_t, payload, packet) => got.push({ text: payload.toString(), qos: packet.qos }));
    await sub.subscribeAsync(topic, { qos: 2 });
    // The publisher is persistent too: its QoS 2 state is stored with each message (one transaction).
    const pub = await connectMqtt(url, { clientId: `fo-pub-${topic.slice(3)}`, clean: false });
    open.push(pub);
    pub.on('close', () => closes.push('publisher'));

    const confirmed = new Map<string, number>();
    const failed: string[] = [];
    let seq = 0;
    let producing = true;
    const inflight = new Set<Promise<void>>();
    const producer = (async () => {
      while (producing) {
        const qos = (seq % 2) + 1 as 1 | 2;
        const text = `m${seq++}-q${qos}`;
        const p = pub.publishAsync(topic, text, { qos }).then(() => { confirmed.set(text, qos); }, (e: Error) => { failed.push(`${text}: ${e.message}`); });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        while (inflight.size >= 16) await Promise.race(inflight);
      }
    })();

    await checkFor(30_000, 20, () => assert.ok(confirmed.size >= 200, `${confirmed.size} confirmed`));
    const { store: master, group: g0 } = await c.waitForMaster();
    const atKill = confirmed.size;
    const killedAt = Date.now();
    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g0.epoch, deadlineMs: 20_000 });
    await checkFor(40_000, 20, () => assert.ok(confirmed.size >= atKill + 200, `${confirmed.size - atKill} confirmed after the kill`));
    t.diagnostic(`master ${c.idOf(master)} -> ${next.group.masterId}; confirmations resumed within ${Date.now() - killedAt} ms`);
    producing = false;
    await producer;
    await checkFor(30_000, 50, () => assert.equal(inflight.size, 0, `${inflight.size} publishes unsettled`));
    assert.deepEqual(failed.slice(0, 5), [], `${failed.length} publishes failed`);

    // Every confirmed publication consumed; QoS 2 ones exactly once.
    await checkFor(30_000, 100, () => {
      const seen = new Set(got.map((g) => g.text));
      const missing = [...confirmed.keys()].filter((x) => !seen.has(x));
      assert.equal(missing.length, 0, `${missing.length} confirmed messages not consumed (e.g. ${missing.slice(0, 5).join(', ')})`);
    });
    const counts = new Map<string, number>();
    for (const g of got) counts.set(g.text, (counts.get(g.text) ?? 0) + 1);
    const twiceQos2 = [...counts].filter(([text, n]) => n > 1 && text.endsWith('-q2')).map(([text]) => text);
    const twiceQos1 = [...counts].filter(([text, n]) => n > 1 && text.endsWith('-q1')).length;
    t.diagnostic(`published ${seq}, confirmed ${confirmed.size}, consumed ${got.length} (${twiceQos1} QoS 1 repeats, allowed)`);
    assert.deepEqual(twiceQos2.slice(0, 10), [], `${twiceQos2.length} QoS 2 messages consumed twice`);
    assert.deepEqual(closes, [], 'no MQTT connection closed');
    assert.ok(sub.connected && pub.connected);

    // `hawser status` counts them (the gateway's registration names its metrics port).
    const r = spawnSync(process.execPath, [join(ROOT, 'tools/cli/dist/main.js'), 'status', '--coordinators', c.coordinatorAddresses.join(','), '--json'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { connections?: Record<string, { stomp: number; mqtt: number }> };
    assert.deepEqual(doc.connections?.[c.gateway.name.replace(/^gateway-/, '')], { stomp: 0, mqtt: 2 });
  });
});
