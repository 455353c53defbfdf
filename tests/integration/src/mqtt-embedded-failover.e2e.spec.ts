// MQTT QoS 2 publishers on the stores' EMBEDDED gateways through a master `kill -9`
// (docs/reliability.md D7): one connected to a slave's MQTT listener (its connection stays up,
// its session moves to the new master under it) and one to the master's own (its connection
// dies with the master; mqtt.js reconnects to the next store and finishes its QoS 2 exchanges
// there, clean: false). Each keeps 4 publications in flight, as the chaos workload's `p-m2`.
// Every QoS 2 publish gets its PUBCOMP (none stays unsettled), and every confirmed one is
// consumed exactly once by a persistent QoS 2 subscriber on the separate gateway.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { Cluster, checkFor } from './cluster';

type Client = mqtt.MqttClient;

interface Publisher {
  name: string;
  client: Client;
  confirmed: Set<string>;
  failed: string[];
  inflight: Set<Promise<void>>;
  sent: number;
  closes: number;
  run: Promise<void>;
}

describe('MQTT QoS 2 on the stores\' embedded gateways through a master kill -9 (D7)', { timeout: 240_000 }, () => {
  let c: Cluster;
  const open: Client[] = [];
  let producing = true;
  before(async () => {
    c = await Cluster.start({
      name: 'mqtt-emb-failover', embeddedGateways: true,
      storeArgs: ['--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', '0'],
      gatewayArgs: ['--mqtt.enabled', 'true', '--mqtt.port', '0'],
    });
  });
  afterEach(async (t) => {
    producing = false; // a failed assertion leaves the publishers' loops running otherwise
    c?.reportIfFailed(t);
    await Promise.all(open.map((x) => x.endAsync(true).catch(() => undefined)));
  });
  after(() => c?.close());

  it('a slave\'s and the master\'s MQTT clients: every QoS 2 publish completed, consumed once', { timeout: 200_000 }, async (t) => {
    const tag = randomBytes(4).toString('hex');
    const topic = `emb/${tag}`;
    const gw = `mqtt://127.0.0.1:${c.gateway.field('mqttPort')}`;
    const sub = await mqtt.connectAsync(gw, { clientId: `emb-sub-${tag}`, clean: false, protocolVersion: 4, keepalive: 30, reconnectPeriod: 0, connectTimeout: 10_000 });
    open.push(sub);
    const got: string[] = [];
    sub.on('message', (_t, payload) => got.push(payload.toString()));
    await sub.subscribeAsync(topic, { qos: 2 });

    const { store: master, group: g0 } = await c.waitForMaster();
    const slave = c.stores.find((s) => s !== master && s.alive)!;
    const others = c.stores.filter((s) => s !== master);
    const server = (s: typeof master) => ({ host: '127.0.0.1', port: s.field('mqttPort') as number, protocol: 'mqtt' as const });
    const start = async (name: string, servers: Array<ReturnType<typeof server>>): Promise<Publisher> => {
      const client = await mqtt.connectAsync('', {
        servers, clientId: `emb-${name}-${tag}`, clean: false, protocolVersion: 4, keepalive: 10,
        reconnectPeriod: 100, connectTimeout: 5_000,
      });
      open.push(client);
      const p: Publisher = { name, client, confirmed: new Set(), failed: [], inflight: new Set(), sent: 0, closes: 0, run: Promise.resolve() };
      client.on('close', () => { p.closes++; });
      p.run = (async () => {
        while (producing) {
          const text = `${name}-${p.sent++}`;
          const pr = client.publishAsync(topic, text, { qos: 2 }).then(() => { p.confirmed.add(text); }, (e: Error) => { p.failed.push(`${text}: ${e.message}`); });
          p.inflight.add(pr);
          void pr.finally(() => p.inflight.delete(pr));
          // 4 in flight, about 50/s: the exchanges in flight at the kill are what D7 is about.
          while (producing && p.inflight.size >= 4) await Promise.race([...p.inflight, new Promise((r) => setTimeout(r, 200))]);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      return p;
    };
    // On a slave's listener only (its connection must outlive the kill), and on the master's
    // own listener first (the others listed for mqtt.js's reconnect).
    const onSlave = await start('slave', [server(slave)]);
    const onMaster = await start('master', [server(master), ...others.map(server)]);
    const pubs = [onSlave, onMaster];

    await checkFor(30_000, 20, () => { for (const p of pubs) assert.ok(p.confirmed.size >= 40, `${p.name}: ${p.confirmed.size} confirmed`); });
    const atKill = pubs.map((p) => p.confirmed.size);
    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g0.epoch, deadlineMs: 20_000 });
    const killedAt = Date.now();
    // Both go on after the kill (D7: the one on the embedded gateway stopped for good).
    await checkFor(45_000, 50, () => {
      pubs.forEach((p, i) => assert.ok(p.confirmed.size >= atKill[i]! + 40, `${p.name}: ${p.confirmed.size - atKill[i]!} confirmed after the kill (in flight ${p.inflight.size})`));
    });
    t.diagnostic(`master ${c.idOf(master)} -> ${next.group.masterId} (slave publisher on ${c.idOf(slave)}); both publishing again within ${Date.now() - killedAt} ms of the new master`);
    producing = false;
    await Promise.all(pubs.map((p) => p.run));
    await checkFor(30_000, 50, () => { for (const p of pubs) assert.equal(p.inflight.size, 0, `${p.name}: ${p.inflight.size} QoS 2 publishes without PUBCOMP`); });
    for (const p of pubs) assert.deepEqual(p.failed.slice(0, 5), [], `${p.name}: ${p.failed.length} publishes failed`);
    assert.equal(onSlave.closes, 0, 'the slave\'s MQTT connection stayed up');

    // Every confirmed publication consumed, each exactly once (QoS 2).
    await checkFor(30_000, 100, () => {
      const seen = new Set(got);
      for (const p of pubs) {
        const missing = [...p.confirmed].filter((x) => !seen.has(x));
        assert.equal(missing.length, 0, `${p.name}: ${missing.length} confirmed messages not consumed (e.g. ${missing.slice(0, 5).join(', ')})`);
      }
    });
    const counts = new Map<string, number>();
    for (const g of got) counts.set(g, (counts.get(g) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).map(([x]) => x);
    t.diagnostic(`slave: sent ${onSlave.sent}, confirmed ${onSlave.confirmed.size}; master: sent ${onMaster.sent}, confirmed ${onMaster.confirmed.size}, ${onMaster.closes} close(s); consumed ${got.length}`);
    assert.deepEqual(twice.slice(0, 10), [], `${twice.length} QoS 2 messages consumed twice`);
  });
});
