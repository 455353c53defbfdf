// MQTT logins and authorization with mqtt.js: CONNECT's user name and password checked against
// the gateway's users file (the same Authenticator as STOMP), a verified TLS client certificate
// logging in as its CN, and the stores' authorization map deciding each SUBSCRIBE — a refused
// filter gets 0x80 in the SUBACK and the connection goes on [MQTT-3.9.3-2].
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { hashPassword } from '@hawser/security';
import { Harness, checkFor, type Gateway } from './harness';
import { makeTestPki, type TestPki } from './certs';

const CHEAP = { log2N: 10, r: 8, p: 1 };

async function sample(port: number, name: string, labels: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(name) && l.includes(labels));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('MQTT logins and authorization (real processes)', { timeout: 120_000 }, () => {
  const h = new Harness('mqtt-auth');
  let pki: TestPki;
  let gateway: Gateway;
  let url: string;
  const open: mqtt.MqttClient[] = [];
  const connect = async (u: string, opts: mqtt.IClientOptions) => {
    const c = await mqtt.connectAsync(u, { reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, ...opts });
    open.push(c);
    return c;
  };

  before(async () => {
    const dir = join(h.root, 'pki');
    mkdirSync(dir);
    pki = makeTestPki(dir);
    const users = join(h.root, 'users.properties');
    const groups = join(h.root, 'groups.properties');
    const acl = join(h.root, 'authorization');
    writeFileSync(users, [`ann=${await hashPassword('ann-pw', CHEAP)}`, `alice=${await hashPassword(randomBytes(8).toString('hex'), CHEAP)}`, `eve=${await hashPassword('eve-pw', CHEAP)}`].join('\n'));
    // eve has every grant ann has ($mqtt.> included): what keeps her out of ann's client ids is ownership, not the map.
    writeFileSync(groups, 'shop=ann,alice,eve\n');
    // MQTT sessions keep their state on $mqtt.* topics (docs/security.md): grant them.
    writeFileSync(acl, ['# kind pattern read write admin', 'topic open.> shop shop -', 'topic $mqtt.> shop shop -'].join('\n'));
    const store = await h.startStore({ args: ['--authorization.file', acl] });
    gateway = await h.startGateway(store, {
      args: ['--auth.usersFile', users, '--auth.groupsFile', groups, '--auth.anonymous', 'false',
        '--mqtt.enabled', 'true', '--mqtt.port', '0', '--mqtts.enabled', 'true', '--mqtts.port', '0', '--ssl.port', '0', '--wss.port', '0',
        '--ssl.cert', pki.server.cert, '--ssl.key', pki.server.key, '--ssl.ca', pki.ca.cert, '--ssl.requestCert', 'true'],
    });
    url = `mqtt://127.0.0.1:${gateway.field('mqttPort')}`;
  });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await Promise.all(open.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  });
  after(() => h.close());

  it('user name and password: right connects; wrong gets CONNACK 4; none (anonymous off) gets 5', async () => {
    const ok = await connect(url, { clientId: 'ann-1', username: 'ann', password: 'ann-pw' });
    assert.equal(ok.connected, true);
    await assert.rejects(connect(url, { clientId: 'ann-2', username: 'ann', password: 'wrong' }), (e: Error & { code?: number }) => e.code === 4);
    await assert.rejects(connect(url, { clientId: 'nobody' }), (e: Error & { code?: number }) => e.code === 5);
  });

  it('a SUBSCRIBE the authorization map refuses gets 0x80 for that filter; the others are granted and the connection goes on', async () => {
    const c = await connect(url, { clientId: 'ann-sub', username: 'ann', password: 'ann-pw' });
    const got: string[] = [];
    c.on('message', (_t, p) => got.push(p.toString()));
    // mqtt.js rejects a SUBACK holding 0x80 and hands over the packet.
    const err = await c.subscribeAsync({ 'secret/x': { qos: 1 }, 'open/x': { qos: 1 } }).then(() => undefined, (e: Error & { packet?: { granted: number[] } }) => e);
    assert.deepEqual(err?.packet?.granted, [0x80, 1]);
    assert.equal(c.connected, true);
    await c.publishAsync('open/x', 'allowed', { qos: 1 });
    await checkFor(10_000, 50, () => assert.deepEqual(got, ['allowed']));
    // A persistent session needs its $mqtt.* state topics: granted here.
    const p = await connect(url, { clientId: 'ann-persist', username: 'ann', password: 'ann-pw', clean: false });
    assert.deepEqual((await p.subscribeAsync('open/p', { qos: 1 })).map((g) => g.qos), [1]);
  });

  it('a client id belongs to the user who made its persistent session: another user gets CONNACK 5, takes nothing over, reads no records', async () => {
    const id = `ann-owned-${randomBytes(3).toString('hex')}`;
    const ann = await connect(url, { clientId: id, username: 'ann', password: 'ann-pw', clean: false });
    await ann.subscribeAsync('open/owned', { qos: 1 });
    const refusalsBefore = await sample(gateway.httpPort, 'hawser_gateway_mqtt_client_id_refusals_total', '');
    const takeoversBefore = await sample(gateway.httpPort, 'hawser_gateway_mqtt_takeovers_total', '');
    // eve, persistent or clean, with ann's id: refused, and ann's connection stays.
    for (const clean of [false, true]) {
      await assert.rejects(connect(url, { clientId: id, username: 'eve', password: 'eve-pw', clean }), (e: Error & { code?: number }) => e.code === 5);
    }
    assert.equal(await sample(gateway.httpPort, 'hawser_gateway_mqtt_client_id_refusals_total', ''), refusalsBefore + 2);
    assert.equal(await sample(gateway.httpPort, 'hawser_gateway_mqtt_takeovers_total', ''), takeoversBefore, 'nothing taken over');
    assert.equal(ann.connected, true);
    await ann.publishAsync('open/owned', 'still ann', { qos: 1 });
    // eve's own persistent session works, but her grant on $mqtt.> does not reach ann's records:
    // the filter naming ann's record topic is refused, a wildcard over $mqtt gets nothing of ann's.
    const eveId = `eve-${randomBytes(3).toString('hex')}`;
    const eve = await connect(url, { clientId: eveId, username: 'eve', password: 'eve-pw', clean: false });
    const seen: string[] = [];
    eve.on('message', (t) => seen.push(t));
    const annRecords = `$mqtt/session/${Buffer.from(id).toString('hex')}`;
    const err = await eve.subscribeAsync({ [annRecords]: { qos: 1 } }).then(() => undefined, (e: Error & { packet?: { granted: number[] } }) => e);
    assert.deepEqual(err?.packet?.granted, [0x80]);
    await eve.subscribeAsync('$mqtt/#', { qos: 1 });
    // The wildcard works: eve's own records (the one this SUBSCRIBE wrote) reach her.
    await checkFor(10_000, 50, () => assert.ok(seen.some((t) => t.endsWith(Buffer.from(eveId).toString('hex'))), `eve's own records: ${seen.join(',')}`));
    await ann.subscribeAsync('open/owned2', { qos: 1 }); // writes a record of ann's
    ann.end(true); // and a drop: ann's records come again to ann's next connection only
    const back = await connect(url, { clientId: id, username: 'ann', password: 'ann-pw', clean: false });
    assert.equal(back.connected, true);
    await new Promise((r) => setTimeout(r, 500)); // a record eve could see would have come by now
    assert.deepEqual(seen.filter((t) => t.includes(Buffer.from(id).toString('hex'))), [], 'no record of ann reached eve');
    // ann's own clean CONNECT ends the persistent session: the id is nobody's then, eve may use it.
    await back.endAsync();
    open.splice(open.indexOf(back), 1);
    // The discard runs behind the CONNACK: the connection stays until it is done. (Closed at once,
    // the discard can be cut off and the id stays ann's: docs/reliability.md D13.)
    const discardsBefore = await sample(gateway.httpPort, 'hawser_gateway_mqtt_session_discards_total', 'result="done"');
    const annClean = await connect(url, { clientId: id, username: 'ann', password: 'ann-pw', clean: true });
    await checkFor(10_000, 50, async () => assert.ok(await sample(gateway.httpPort, 'hawser_gateway_mqtt_session_discards_total', 'result="done"') > discardsBefore, 'discard done'));
    await annClean.endAsync();
    await checkFor(10_000, 100, async () => {
      const c = await connect(url, { clientId: id, username: 'eve', password: 'eve-pw', clean: true });
      assert.equal(c.connected, true);
    });
  });

  it('TLS client certificate: a verified certificate whose CN is a user logs in as that user (no password)', async () => {
    const port = gateway.field<number>('mqttsPort');
    const before = await sample(gateway.httpPort, 'hawser_gateway_logins_total', 'result="certificate"');
    const c = await connect(`mqtts://127.0.0.1:${port}`, {
      clientId: 'alice-cert', ca: [readFileSync(pki.ca.cert)], cert: readFileSync(pki.alice.cert), key: readFileSync(pki.alice.key), servername: 'localhost',
    });
    await c.publishAsync('open/cert', 'as alice', { qos: 1 });
    assert.equal(await sample(gateway.httpPort, 'hawser_gateway_logins_total', 'result="certificate"'), before + 1);
  });
});
