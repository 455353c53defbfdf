// The MQTT adapter's packet flows: the gateway in-process against the FakeBroker, a raw MQTT
// client (mqtt-packet's codec over a real TCP socket or WebSocket on 127.0.0.1) that checks
// every packet the gateway sends and what reached the store.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { WebSocket } from 'ws';
import { generate, parser as mqttParser, type Packet } from 'mqtt-packet';
import { loadConfig } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { schema } from '../../config';
import { startGateway, type Gateway } from '../../gateway';
import { FakeBroker, FakeCoordinator, checkFor } from '../../testkit';
import { sessionTopic } from './session-state';

const quiet = createLogger({ service: 'mqtt-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });

/** A raw MQTT client: packets in, packets out, nothing hidden. */
class RawMqtt {
  readonly packets: Packet[] = [];
  closed = false;
  private read = 0;
  private writeFn: (b: Buffer) => void = () => {};
  private closeFn: () => void = () => {};

  static tcp(port: number): Promise<RawMqtt> {
    const c = new RawMqtt();
    const p = mqttParser({ protocolVersion: 4 });
    p.on('packet', (pk: Packet) => c.packets.push(pk));
    return new Promise((resolve, reject) => {
      const s = netConnect(port, '127.0.0.1', () => resolve(c));
      s.on('error', (e) => { if (!c.closed) reject(e); });
      s.on('data', (d: Buffer) => p.parse(d));
      s.on('close', () => { c.closed = true; });
      c.writeFn = (b) => { if (!s.destroyed) s.write(b); };
      c.closeFn = () => s.destroy();
    });
  }

  static ws(port: number): Promise<RawMqtt> {
    const c = new RawMqtt();
    const p = mqttParser({ protocolVersion: 4 });
    p.on('packet', (pk: Packet) => c.packets.push(pk));
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, ['mqtt']);
      ws.on('open', () => resolve(c));
      ws.on('error', (e) => { if (!c.closed) reject(e); });
      ws.on('message', (d: Buffer) => p.parse(Buffer.from(d)));
      ws.on('close', () => { c.closed = true; });
      c.writeFn = (b) => { if (ws.readyState === WebSocket.OPEN) ws.send(b); };
      c.closeFn = () => ws.terminate();
    });
  }

  send(p: Packet): void { this.writeFn(generate(p)); }
  bytes(b: Buffer): void { this.writeFn(b); }
  close(): void { this.closeFn(); }

  async next(timeoutMs = 3_000): Promise<Packet> {
    const p = await checkFor('an MQTT packet', () => this.packets[this.read], timeoutMs);
    this.read++;
    return p;
  }

  async expect<C extends Packet['cmd']>(cmd: C, timeoutMs = 3_000): Promise<Extract<Packet, { cmd: C }>> {
    const p = await this.next(timeoutMs);
    if (p.cmd !== cmd) throw new Error(`expected ${cmd}, got ${JSON.stringify(p)}`);
    return p as Extract<Packet, { cmd: C }>;
  }

  async connect(opts: { clientId?: string; clean?: boolean; keepalive?: number; will?: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean } } = {}): Promise<Extract<Packet, { cmd: 'connack' }>> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: opts.clean ?? true, clientId: opts.clientId ?? '', keepalive: opts.keepalive ?? 0, ...(opts.will ? { will: opts.will } : {}) });
    return this.expect('connack');
  }

  waitClosed(timeoutMs = 3_000): Promise<boolean> { return checkFor('the connection to close', () => this.closed, timeoutMs); }
}

function configFor(store: string, extra: string[] = []) {
  return loadConfig(schema, {
    env: {},
    argv: ['--auth.anonymous', 'true', '--gateway.id', 'gw-mqtt', '--store.address', store, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0',
      '--mqtt.enabled', 'true', '--mqtt.port', '0', '--mqtt.maxPacketSize', '4096', ...extra],
  }).config;
}

async function metric(gw: Gateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await gw.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, l]) => String(x.labels[k]) === l));
  return v ? Number(v.value) : 0;
}

let broker: FakeBroker;
let gw: Gateway;
const clients: RawMqtt[] = [];
async function client(): Promise<RawMqtt> {
  const c = await RawMqtt.tcp(gw.mqttPort);
  clients.push(c);
  return c;
}
const sends = (dest: string) => broker.requests('send').filter((r) => r.send.message.destination === dest);

describe('MQTT adapter packet flows', () => {
  before(async () => {
    broker = await new FakeBroker().start();
    gw = await startGateway(configFor(broker.address), { log: quiet });
  });
  after(async () => {
    for (const c of clients) c.close();
    await gw.stop();
    await broker.stop();
  });

  describe('CONNECT', () => {
    test('clean session: CONNACK 0, session present 0; the store opens the session with the MQTT client id', async () => {
      const c = await client();
      const ack = await c.connect({ clientId: 'dev-1' });
      assert.deepEqual([ack.returnCode, ack.sessionPresent], [0, false]);
      const open = broker.requests('open').find((o) => o.open.clientId === 'dev-1');
      assert.ok(open);
      assert.deepEqual(open.open.groups, ['anonymous']);
      c.send({ cmd: 'pingreq' });
      await c.expect('pingresp');
    });

    test('[MQTT-3.1.3-6] a zero-length client id with a clean session gets one; [MQTT-3.1.3-8] without, CONNACK 2', async () => {
      const a = await client();
      assert.equal((await a.connect({ clientId: '' })).returnCode, 0);
      assert.ok(broker.requests('open').some((o) => o.open.clientId.startsWith('hawser-gw-mqtt:')));
      const b = await client();
      // mqtt-packet will not generate it: clear the clean-session bit of the connect flags by hand.
      const bytes = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: '', keepalive: 0 });
      bytes[9] = bytes[9]! & ~0x02;
      b.bytes(bytes);
      const ack = await b.expect('connack');
      assert.equal(ack.returnCode, 2);
      await b.waitClosed();
    });

    test('[MQTT-3.1.2-2] protocol level 5: CONNACK 1 and the close', async () => {
      const c = await client();
      // A v3.1.1 CONNECT with the level byte set to 5 (what an MQTT 5 client sends, without properties).
      const bytes = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'v5', keepalive: 0 });
      bytes[8] = 5;
      c.bytes(Buffer.concat([bytes.subarray(0, 1), Buffer.from([bytes[1]! + 1]), bytes.subarray(2, 12), Buffer.from([0]), bytes.subarray(12)]));
      const ack = await c.expect('connack');
      assert.equal(ack.returnCode, 1);
      await c.waitClosed();
    });

    test('MQTT 3.1 (MQIsdp, level 3) connects too', async () => {
      const c = await client();
      c.send({ cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clean: true, clientId: 'v31', keepalive: 0 });
      const ack = await c.expect('connack');
      assert.equal(ack.returnCode, 0);
      c.send({ cmd: 'publish', topic: 'v31/t', payload: Buffer.from('old'), qos: 1, messageId: 1, dup: false, retain: false });
      assert.equal((await c.expect('puback')).messageId, 1);
    });

    test('[MQTT-3.1.4-2] a second CONNECT with the same client id closes the first connection', async () => {
      const before = await metric(gw, 'hawser_gateway_mqtt_takeovers_total');
      const first = await client();
      await first.connect({ clientId: 'same' });
      const second = await client();
      assert.equal((await second.connect({ clientId: 'same' })).returnCode, 0);
      await first.waitClosed();
      assert.equal(second.closed, false);
      assert.equal(await metric(gw, 'hawser_gateway_mqtt_takeovers_total'), before + 1);
    });

    test('[MQTT-3.1.2-24] keep-alive: silent for 1.5x the keep-alive closes; PINGREQ keeps it open', async () => {
      const idle = await client();
      await idle.connect({ clientId: 'ka-idle', keepalive: 1 });
      const pinging = await client();
      await pinging.connect({ clientId: 'ka-ping', keepalive: 1 });
      const started = Date.now();
      const timer = setInterval(() => pinging.send({ cmd: 'pingreq' }), 400);
      try {
        await idle.waitClosed(4_000);
        const after = Date.now() - started;
        assert.ok(after >= 1_400, `closed after ${after} ms, not before 1.5 s`);
        assert.equal(pinging.closed, false);
      } finally {
        clearInterval(timer);
      }
    });
  });

  describe('bad input closes that connection, with a metric; others carry on', () => {
    const cases: Array<[string, string, (c: RawMqtt) => Promise<void>]> = [
      ['a packet before CONNECT [MQTT-3.1.0-1]', 'not_connected', async (c) => c.send({ cmd: 'pingreq' })],
      ['a second CONNECT [MQTT-3.1.0-2]', 'second_connect', async (c) => { await c.connect({ clientId: 'twice' }); c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'twice', keepalive: 0 }); }],
      ['reserved flags: SUBSCRIBE with flags 0 [MQTT-3.8.1-1]', 'malformed', async (c) => {
        await c.connect({ clientId: 'flags' });
        const b = generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] });
        b[0] = 0x80;
        c.bytes(b);
      }],
      ['a packet over mqtt.maxPacketSize', 'oversize', async (c) => { await c.connect({ clientId: 'big' }); c.send({ cmd: 'publish', topic: 'a', payload: Buffer.alloc(8000), qos: 0, dup: false, retain: false }); }],
      ['a wildcard in a PUBLISH topic [MQTT-3.3.2-2]', 'bad_topic', async (c) => { await c.connect({ clientId: 'wild' }); c.send({ cmd: 'publish', topic: 'a/+', payload: Buffer.from('x'), qos: 0, dup: false, retain: false }); }],
      ['garbage', 'malformed', async (c) => c.bytes(Buffer.from([0x10, 0x03, 0xff, 0xff, 0xff]))],
      // The topic's bytes made ill-formed after encoding: 'a/X' with X as 0xff.
      ['ill-formed UTF-8 in a PUBLISH topic [MQTT-1.5.3-1]', 'bad_topic', async (c) => {
        await c.connect({ clientId: 'utf8-pub' });
        const b = generate({ cmd: 'publish', topic: 'a/X', payload: Buffer.from('x'), qos: 0, dup: false, retain: false });
        b[b.indexOf(0x58)] = 0xff;
        c.bytes(b);
      }],
      ['ill-formed UTF-8 in a SUBSCRIBE filter [MQTT-1.5.3-1] (not just a refused filter)', 'bad_topic', async (c) => {
        await c.connect({ clientId: 'utf8-sub' });
        const b = generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/X', qos: 0 }] });
        b[b.indexOf(0x58)] = 0xff;
        c.bytes(b);
      }],
    ];
    for (const [what, reason, act] of cases) {
      test(what, async () => {
        const witness = await client();
        await witness.connect({ clientId: `witness-${reason}-${what.length}` });
        const before = await metric(gw, 'hawser_gateway_mqtt_protocol_errors_total', { protocol: 'mqtt', reason });
        const c = await client();
        await act(c);
        await c.waitClosed();
        await checkFor('the metric', async () => (await metric(gw, 'hawser_gateway_mqtt_protocol_errors_total', { protocol: 'mqtt', reason })) === before + 1);
        witness.send({ cmd: 'pingreq' });
        await witness.expect('pingresp');
      });
    }
  });

  describe('PUBLISH from the client', () => {
    test('QoS 0: a non-persistent SEND to /topic/a.b, body unchanged, nothing back', async () => {
      const c = await client();
      await c.connect({ clientId: 'pub0' });
      c.send({ cmd: 'publish', topic: 'q0/a', payload: Buffer.from([0, 1, 2, 255]), qos: 0, dup: false, retain: false });
      const [s] = await checkFor('the SEND', () => sends('/topic/q0.a').length === 1 && sends('/topic/q0.a'));
      assert.deepEqual(Buffer.from(s!.send.message.body), Buffer.from([0, 1, 2, 255]));
      assert.equal(s!.send.message.persistent, false);
      assert.equal(s!.send.message.headers['ActiveMQ.MQTT.QoS'], '0');
    });

    test('QoS 1: a persistent SEND, PUBACK after the store\'s receipt; a DUP still pending is not sent twice', async () => {
      const c = await client();
      await c.connect({ clientId: 'pub1' });
      broker.holdSends = true;
      c.send({ cmd: 'publish', topic: 'q1', payload: Buffer.from('one'), qos: 1, messageId: 7, dup: false, retain: true });
      c.send({ cmd: 'publish', topic: 'q1', payload: Buffer.from('one'), qos: 1, messageId: 7, dup: true, retain: true });
      await checkFor('the SEND', () => sends('/topic/q1').length >= 1);
      assert.equal(c.packets.length, 1, 'no PUBACK before the store confirms');
      broker.holdSends = false;
      c.send({ cmd: 'publish', topic: 'q1', payload: Buffer.from('two'), qos: 1, messageId: 8, dup: false, retain: false });
      const ack = await c.expect('puback');
      assert.equal(ack.messageId, 8);
      assert.equal(sends('/topic/q1').length, 2, 'the DUP of 7 was not sent again');
      const m = sends('/topic/q1')[0]!.send.message;
      assert.equal(m.persistent, true);
      assert.equal(m.headers['ActiveMQ.Retain'], 'true');
    });

    test('QoS 2 (clean session): PUBREC after the store, a DUP is not stored again, PUBREL -> PUBCOMP', async () => {
      const c = await client();
      await c.connect({ clientId: 'pub2' });
      c.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('exactly once'), qos: 2, messageId: 9, dup: false, retain: false });
      assert.equal((await c.expect('pubrec')).messageId, 9);
      c.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('exactly once'), qos: 2, messageId: 9, dup: true, retain: false });
      assert.equal((await c.expect('pubrec')).messageId, 9);
      c.send({ cmd: 'pubrel', messageId: 9 });
      assert.equal((await c.expect('pubcomp')).messageId, 9);
      assert.equal(sends('/topic/q2').length, 1, 'stored once');
      // The id is free again: the same id is a new message.
      c.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('second'), qos: 2, messageId: 9, dup: false, retain: false });
      await c.expect('pubrec');
      assert.equal(sends('/topic/q2').length, 2);
      // PUBREL of an unknown id: PUBCOMP all the same.
      c.send({ cmd: 'pubrel', messageId: 4242 });
      assert.equal((await c.expect('pubcomp')).messageId, 4242);
    });

    test('QoS 2: the same PUBLISH resent WITHOUT DUP on a stored id (mqtt.js after a reconnect) is not stored again; another message on that id is (D11)', async () => {
      const c = await client();
      await c.connect({ clientId: 'pub2-nodup' });
      const publish = (payload: string) => c.send({ cmd: 'publish', topic: 'q2nd', payload: Buffer.from(payload), qos: 2, messageId: 11, dup: false, retain: false });
      publish('once');
      assert.equal((await c.expect('pubrec')).messageId, 11);
      publish('once'); // no DUP, same content: a resend
      assert.equal((await c.expect('pubrec')).messageId, 11);
      assert.equal(sends('/topic/q2nd').length, 1, 'stored once');
      publish('a new one'); // no DUP, other content, PUBREL lost: a new message on a stale id
      await c.expect('pubrec');
      assert.equal(sends('/topic/q2nd').length, 2, 'a different PUBLISH on the id is stored');
      c.send({ cmd: 'pubrel', messageId: 11 });
      assert.equal((await c.expect('pubcomp')).messageId, 11);
    });
  });

  describe('SUBSCRIBE and deliveries', () => {
    test('a filter becomes a subscription on its destination; granted QoS per filter; 0x80 for a bad one', async () => {
      const c = await client();
      await c.connect({ clientId: 'sub-1' });
      c.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'x/+/z', qos: 1 }, { topic: 'x/#/bad', qos: 0 }, { topic: 'y/#', qos: 2 }] });
      const ack = await c.expect('suback');
      assert.deepEqual([ack.messageId, ack.granted], [3, [1, 0x80, 2]]);
      const subs = broker.requests('subscribe').filter((s) => s.subscribe.subscriptionId === 'x/+/z' || s.subscribe.subscriptionId === 'y/#');
      assert.deepEqual(subs.map((s) => [s.subscribe.destination, s.subscribe.ackMode, s.subscribe.durableName]),
        [['/topic/x.*.z', 'ACK_MODE_CLIENT_INDIVIDUAL', ''], ['/topic/y.>', 'ACK_MODE_CLIENT_INDIVIDUAL', '']]);
    });

    test('delivered QoS = min(granted, published): QoS 0, 1 (PUBACK acks the store), 2 (PUBREC acks, PUBREL, PUBCOMP)', async () => {
      const c = await client();
      await c.connect({ clientId: 'sub-2' });
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'd/q', qos: 2 }] });
      await c.expect('suback');
      const acked = () => broker.acked('/topic/d.q').length;
      broker.publish({ id: 'm0', destination: '/topic/d.q', body: Buffer.from('zero') });                      // non-persistent: QoS 0
      const p0 = await c.expect('publish');
      assert.deepEqual([p0.topic, p0.qos, Buffer.from(p0.payload).toString()], ['d/q', 0, 'zero']);
      broker.publish({ id: 'm1', destination: '/topic/d.q', body: Buffer.from('one'), persistent: true });    // STOMP persistent: QoS 1
      const p1 = await c.expect('publish');
      assert.equal(p1.qos, 1);
      await checkFor('the QoS 0 delivery acked', () => acked() === 1);
      c.send({ cmd: 'puback', messageId: p1.messageId! });
      await checkFor('the QoS 1 delivery acked', () => acked() === 2);
      broker.publish({ id: 'm2', destination: '/topic/d.q', body: Buffer.from('two'), persistent: true, headers: { 'ActiveMQ.MQTT.QoS': '2', 'ActiveMQ.Retained': 'true' } });
      const p2 = await c.expect('publish');
      assert.deepEqual([p2.qos, p2.retain], [2, true]);
      c.send({ cmd: 'pubrec', messageId: p2.messageId! });
      assert.equal((await c.expect('pubrel')).messageId, p2.messageId);
      await checkFor('the QoS 2 delivery acked', () => acked() === 3);
      c.send({ cmd: 'pubcomp', messageId: p2.messageId! });
      // A copy of the completed message (a failover lost our ack) is acked, not delivered.
      broker.publish({ id: 'm2', destination: '/topic/d.q', body: Buffer.from('two'), persistent: true, headers: { 'ActiveMQ.MQTT.QoS': '2' } }, true);
      await checkFor('the copy acked', () => acked() === 4);
      c.send({ cmd: 'pingreq' });
      await c.expect('pingresp');
    });

    test('overlapping subscriptions of one connection deliver one copy [MQTT-3.3.5-1]', async () => {
      const c = await client();
      await c.connect({ clientId: 'overlap' });
      // The FakeBroker matches exact destinations: two filters for one topic show the overlap.
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'o/v', qos: 0 }] });
      await c.expect('suback');
      // Same destination, another subscription id: the FakeBroker delivers each message twice.
      c.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'o/v/', qos: 0 }] });
      await c.expect('suback');
      const sub = broker.sessions.find((s) => s.subs.has('o/v/'))!;
      sub.subs.set('o/v/', { ...sub.subs.get('o/v/')!, destination: '/topic/o.v' });
      broker.publish({ id: 'once', destination: '/topic/o.v' });
      await c.expect('publish');
      c.send({ cmd: 'pingreq' });
      await c.expect('pingresp');
    });

    test('[MQTT-3.3.5-1] overlapping subscriptions: the one copy goes at the highest matching QoS; the other copy is acked with its PUBACK', async () => {
      const c = await client();
      await c.connect({ clientId: 'overlap-qos' });
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'oq/a', qos: 0 }, { topic: 'oq/+', qos: 1 }] });
      assert.deepEqual((await c.expect('suback')).granted, [0, 1]);
      // The FakeBroker matches exact destinations only: point the wildcard subscription at the topic.
      const s = broker.sessions.find((x) => x.subs.has('oq/+'))!;
      s.subs.set('oq/+', { ...s.subs.get('oq/+')!, destination: '/topic/oq.a' });
      const acked = () => broker.acked('/topic/oq.a').length;
      broker.publish({ id: 'oq-1', destination: '/topic/oq.a', persistent: true });
      const p = await c.expect('publish');
      assert.equal(p.qos, 1, 'delivered at the QoS 1 subscription\'s QoS though the QoS 0 one delivered first');
      // The QoS 0 copy is acked as written; the QoS 1 copy waits for the client's PUBACK.
      await checkFor('the QoS 0 copy acked', () => acked() === 1);
      c.send({ cmd: 'pingreq' });
      await c.expect('pingresp');
      assert.equal(acked(), 1, 'the QoS 1 copy not acked before PUBACK');
      c.send({ cmd: 'puback', messageId: p.messageId! });
      await checkFor('the QoS 1 copy acked', () => acked() === 2);
    });

    test('UNSUBSCRIBE: UNSUBACK (also for an unknown filter), the store unsubscribes', async () => {
      const c = await client();
      await c.connect({ clientId: 'unsub' });
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'u', qos: 1 }] });
      await c.expect('suback');
      c.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['u', 'never'] });
      assert.equal((await c.expect('unsuback')).messageId, 2);
      assert.ok(broker.requests('unsubscribe').some((u) => u.unsubscribe.subscriptionId === 'u' && !u.unsubscribe.removeDurable));
    });
  });

  describe('will', () => {
    test('[MQTT-3.1.2-8] published when the connection drops; not after DISCONNECT [MQTT-3.14.4-3]', async () => {
      const will = { topic: 'wills/w1', payload: Buffer.from('gone'), qos: 1 as const, retain: false };
      const a = await client();
      await a.connect({ clientId: 'will-1', will });
      a.close();
      const [w] = await checkFor('the will', () => sends('/topic/wills.w1').length === 1 && sends('/topic/wills.w1'));
      assert.equal(Buffer.from(w!.send.message.body).toString(), 'gone');
      assert.equal(w!.send.message.persistent, true);
      const b = await client();
      await b.connect({ clientId: 'will-2', will: { ...will, topic: 'wills/w2' } });
      b.send({ cmd: 'disconnect' });
      await b.waitClosed();
      // A third, dropped connection's will shows the second's would have arrived by now.
      const c = await client();
      await c.connect({ clientId: 'will-3', will: { ...will, topic: 'wills/w3' } });
      c.close();
      await checkFor('the third will', () => sends('/topic/wills.w3').length === 1);
      assert.equal(sends('/topic/wills.w2').length, 0);
    });
  });

  describe('persistent session (clean session 0)', () => {
    test('the state durable is read back before CONNACK; subscriptions are durable and resumed on reconnect', async () => {
      const c = await client();
      const ack = await c.connect({ clientId: 'keeper', clean: false });
      assert.deepEqual([ack.returnCode, ack.sessionPresent], [0, false]);
      const topic = sessionTopic('keeper');
      const state = broker.requests('subscribe').find((s) => s.subscribe.destination === topic && s.subscribe.subscriptionId === '$mqtt.session')!;
      assert.deepEqual([state.subscribe.durableName, state.subscribe.ackMode, state.subscribe.selector], ['$mqtt.session', 'ACK_MODE_CLIENT_INDIVIDUAL', 'MqttTakeover IS NULL']);
      // Every connection listens for takeover announcements on the same topic, and makes one.
      // Both follow the store's answer to the read (the subscribe's receipt), which may reach
      // the gateway after the mark that let the CONNACK go: they are waited for, not assumed.
      const takeover = await checkFor('the takeover subscription', () => broker.requests('subscribe').find((s) => s.subscribe.destination === topic && s.subscribe.subscriptionId === '$mqtt.takeover'));
      assert.deepEqual([takeover.subscribe.durableName, takeover.subscribe.noLocal, takeover.subscribe.selector], ['', true, 'MqttTakeover IS NOT NULL']);
      await checkFor('the takeover announcement', () => sends(topic).some((r) => r.send.message.headers['MqttTakeover'] && !r.send.message.persistent));
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'p/s', qos: 1 }] });
      await c.expect('suback');
      const sub = broker.requests('subscribe').find((s) => s.subscribe.subscriptionId === 'p/s')!;
      assert.equal(sub.subscribe.durableName, 'p/s');
      // The records ({t:'session'}, {t:'sub'}) went to the client's state topic.
      const records = () => sends(topic).filter((s) => s.send.message.persistent).map((s) => JSON.parse(Buffer.from(s.send.message.body).toString()) as { t: string });
      await checkFor('the records', () => records().some((r) => r.t === 'sub') && records().some((r) => r.t === 'session'));
      // The FakeBroker forgets everything with the session: it cannot show a reload. What it can
      // show: the reconnect reads the records again (the integration suite has the real store).
      c.close();
      const d = await client();
      const again = await d.connect({ clientId: 'keeper', clean: false });
      assert.equal(again.returnCode, 0);
    });

    test('QoS 1 PUBLISHes without PUBACK are written down at the close, in one out1 record with their packet ids [MQTT-4.4.0-1]', async () => {
      const c = await client();
      await c.connect({ clientId: 'q1-ids', clean: false });
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q1/t', qos: 1 }] });
      await c.expect('suback');
      const records = () => sends(sessionTopic('q1-ids')).filter((r) => r.send.message.persistent).length;
      await checkFor('the session loaded', () => records() > 0);
      const recordsBefore = records();
      for (const id of ['q1-a', 'q1-b', 'q1-c']) broker.publish({ id, destination: '/topic/q1.t', persistent: true });
      const pids = [(await c.expect('publish')).messageId!, (await c.expect('publish')).messageId!, (await c.expect('publish')).messageId!];
      c.send({ cmd: 'puback', messageId: pids[1]! });
      c.send({ cmd: 'pingreq' });
      await c.expect('pingresp'); // the PUBACK was handled
      assert.equal(records(), recordsBefore, 'no store write per QoS 1 delivery');
      c.close();
      const out1 = await checkFor('the out1 record', () => sends(sessionTopic('q1-ids')).filter((r) => r.send.message.persistent).map((r) => JSON.parse(Buffer.from(r.send.message.body).toString()) as { t: string; l?: unknown }).find((r) => r.t === 'out1'));
      assert.deepEqual(out1.l, [[pids[0], 'q1/t', 'q1-a'], [pids[2], 'q1/t', 'q1-c']]);
    });
  });

  describe('a client id belongs to the user who made its persistent session', () => {
    test('another user\'s CONNECT with it gets CONNACK 5 (clean or not), with a metric; the owner\'s connection is not taken over', async () => {
      const owner = await client();
      assert.equal((await owner.connect({ clientId: 'owned-id' })).returnCode, 0);
      const takeovers = await metric(gw, 'hawser_gateway_mqtt_takeovers_total');
      // The store answers the read of the id's records as the core does for another user (core.ts foreignSessionTopic).
      broker.refuseSubscribe = (sub) => (sub.destination === sessionTopic('owned-id')
        ? { code: 'CLIENT_ID_TAKEN', message: "client id 'owned-id' belongs to another user's persistent MQTT session" } : undefined);
      try {
        for (const clean of [false, true]) {
          const other = await client();
          const ack = await other.connect({ clientId: 'owned-id', clean });
          assert.deepEqual([ack.returnCode, ack.sessionPresent], [5, false]);
          assert.ok(await other.waitClosed());
        }
        assert.equal(await metric(gw, 'hawser_gateway_mqtt_client_id_refusals_total'), 2);
        assert.equal(await metric(gw, 'hawser_gateway_mqtt_takeovers_total'), takeovers, 'nothing taken over');
        owner.send({ cmd: 'pingreq' });
        await owner.expect('pingresp');
        // A map that grants no $mqtt.> (FORBIDDEN) still lets a clean session in, as before.
        broker.refuseSubscribe = (sub) => (sub.destination === sessionTopic('no-grant') ? { code: 'FORBIDDEN', message: 'no grant' } : undefined);
        const plain = await client();
        assert.equal((await plain.connect({ clientId: 'no-grant' })).returnCode, 0);
      } finally {
        broker.refuseSubscribe = undefined;
      }
    });
  });

  test('MQTT over WebSocket: the ws listener picks the adapter by subprotocol `mqtt`', async () => {
    const c = await RawMqtt.ws(gw.wsPort);
    clients.push(c);
    const ack = await c.connect({ clientId: 'over-ws' });
    assert.equal(ack.returnCode, 0);
    assert.equal(await metric(gw, 'hawser_gateway_connections', { protocol: 'mqtt+ws' }), 1);
    c.send({ cmd: 'publish', topic: 'ws/t', payload: Buffer.from('via ws'), qos: 1, messageId: 1, dup: false, retain: false });
    await c.expect('puback');
  });
});

// With coordinators the session says it is open at once and again when a master opens it, and
// again after each move to a new master: the persistent session's state is read once, and
// the client's subscriptions and in-flight QoS 2 state move with the session.
describe('MQTT on a session that fails over', () => {
  let a: FakeBroker;
  let b: FakeBroker;
  let coord: FakeCoordinator;
  let fgw: Gateway;
  const mine: RawMqtt[] = [];
  before(async () => {
    a = await new FakeBroker().start();
    b = await new FakeBroker().start();
    coord = await new FakeCoordinator().start();
    coord.setMaster({ id: 'A', address: a.address, epoch: 1 });
    fgw = await startGateway(loadConfig(schema, {
      env: {},
      argv: ['--auth.anonymous', 'true', '--gateway.id', 'gw-mqtt-fo', '--stomp.port', '0', '--ws.port', '0', '--http.port', '0',
        '--mqtt.enabled', 'true', '--mqtt.port', '0', '--coordinators', coord.address, '--group', 'g1',
        '--failover.maxWaitMs', '3000', '--failover.resendTimeoutMs', '1000'],
    }).config, { log: quiet });
    await checkFor('the gateway to learn the master', () => fgw.source.master?.address === a.address);
  });
  after(async () => {
    for (const c of mine) c.close();
    await fgw.stop();
    await Promise.all([a.stop(), b.stop(), coord.stop()]);
  });

  test('a persistent session reads its state once, CONNACKs, and its subscriptions move to the new master', async () => {
    const c = await RawMqtt.tcp(fgw.mqttPort);
    mine.push(c);
    const ack = await c.connect({ clientId: 'mover', clean: false });
    assert.equal(ack.returnCode, 0);
    assert.equal(a.requests('subscribe').filter((s) => s.subscribe.subscriptionId === '$mqtt.session').length, 1, 'the state durable subscribed once');
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mv/t', qos: 2 }] });
    await c.expect('suback');
    // A QoS 2 PUBLISH stored, PUBREL not yet sent: its state is the gateway's and the store's.
    c.send({ cmd: 'publish', topic: 'mv/in', payload: Buffer.from('x'), qos: 2, messageId: 11, dup: false, retain: false });
    await c.expect('pubrec');
    coord.setMaster({ id: 'B', address: b.address, epoch: 2 });
    a.killSessions();
    await checkFor('the session on B with its subscriptions', () =>
      b.requests('subscribe').some((s) => s.subscribe.subscriptionId === 'mv/t' && s.subscribe.durableName === 'mv/t')
      && b.requests('subscribe').some((s) => s.subscribe.subscriptionId === '$mqtt.session'));
    // The DUP after the move is not stored again; PUBREL releases it.
    c.send({ cmd: 'publish', topic: 'mv/in', payload: Buffer.from('x'), qos: 2, messageId: 11, dup: true, retain: false });
    assert.equal((await c.expect('pubrec')).messageId, 11);
    c.send({ cmd: 'pubrel', messageId: 11 });
    assert.equal((await c.expect('pubcomp')).messageId, 11);
    assert.equal(b.requests('send').filter((r) => r.send.message.destination === '/topic/mv.in').length, 0, 'not sent to B again');
    b.publish({ id: 'after-move', destination: '/topic/mv.t', persistent: true });
    assert.equal((await c.expect('publish')).topic, 'mv/t');
    assert.equal(c.closed, false);
  });
});

test('limits.producerWindow: QoS 0 PUBLISHes in one read stop at the window and follow, in order, once half are confirmed', async () => {
  const b = await new FakeBroker().start();
  const g = await startGateway(configFor(b.address, ['--limits.producerWindow', '4']), { log: quiet });
  const c = await RawMqtt.tcp(g.mqttPort);
  try {
    await c.connect({ clientId: 'window' });
    // The connection's takeover announcement is a SEND made as the CONNACK goes: until its
    // receipt is back it holds a place in the window. A QoS 1 PUBLISH's PUBACK says it is back
    // (the store's receipts come in order).
    c.send({ cmd: 'publish', topic: 'w/first', payload: Buffer.from('first'), qos: 1, messageId: 1, dup: false, retain: false });
    assert.equal((await c.expect('puback')).messageId, 1);
    b.holdSends = true; // the store takes the SENDs and confirms none (yet)
    c.bytes(Buffer.concat(Array.from({ length: 12 }, (_, i) => generate({ cmd: 'publish', topic: 'w', payload: Buffer.from(`m${i + 1}`), qos: 0, dup: false, retain: false }))));
    const at = () => b.requests('send').filter((r) => r.send.message.destination === '/topic/w');
    await checkFor('the window at the store', () => at().length === 4);
    await new Promise((r) => setTimeout(r, 300)); // a packet that were handled would reach the fake store within this
    assert.equal(at().length, 4, 'the rest of the read waits behind the window');
    const session = b.sessions.find((s) => !s.ended)!;
    let confirmed = 0;
    await checkFor('all twelve at the store', () => {
      const sent = at();
      if (sent.length > confirmed) {
        session.write(sent.slice(confirmed).map((r) => ({ kind: 'receipt', receipt: { requestId: r.requestId } })));
        confirmed = sent.length;
      }
      return sent.length === 12;
    });
    assert.deepEqual(at().map((r) => Buffer.from(r.send.message.body).toString()), Array.from({ length: 12 }, (_, i) => `m${i + 1}`));
    assert.equal(c.closed, false);
  } finally {
    c.close();
    await g.stop();
    await b.stop();
  }
});
