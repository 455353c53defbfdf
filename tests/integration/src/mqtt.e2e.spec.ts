// MQTT 3.1.1 with real third-party clients we did not write — the npm `mqtt` client (mqtt.js)
// and Debian's mosquitto-clients (mosquitto_pub / mosquitto_sub) — against a real store and
// gateway, over TCP, TLS and WebSocket: every QoS, will, persistent session across a client
// restart, client-id takeover, and STOMP <-> MQTT both ways with bodies unchanged.
// mosquitto-clients missing FAILS the suite (tools/scripts/setup.sh installs it), never skips.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import mqtt from 'mqtt';
import { generate, parser as mqttParser, type Packet } from 'mqtt-packet';
import { Harness, checkFor, type Gateway } from './harness';
import { Clients, drain, texts } from './support';
import { STORE_ARGS } from './messaging';
import { makeTestPki, type TestPki } from './certs';

type MqttClient = mqtt.MqttClient;

/** Polls until `fn` holds (checkFor wants a throw for "not yet"). */
function until(deadlineMs: number, what: string, fn: () => boolean | Promise<boolean>): Promise<void> {
  return checkFor(deadlineMs, 50, async () => { if (!(await fn())) throw new Error(`not yet: ${what}`); });
}

/** A topic nobody else in the run uses (MQTT spelling). */
const topic = (prefix: string): string => `${prefix}/${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
/** The destination STOMP sees for an MQTT topic (ActiveMQ's mapping). */
const dest = (t: string): string => `/topic/${t.replace(/\//g, '.')}`;

/**
 * A raw MQTT client (mqtt-packet's codec on a socket): for the QoS 2 steps no client library
 * lets a test stop between (a PUBREC sent, the connection dropped before PUBCOMP).
 */
class RawMqtt {
  readonly packets: Packet[] = [];
  closed = false;
  private read = 0;
  private constructor(private readonly socket: import('node:net').Socket) {}
  static open(port: number): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const s = netConnect(port, '127.0.0.1', () => resolve(c));
      const c = new RawMqtt(s);
      const p = mqttParser({ protocolVersion: 4 });
      p.on('packet', (pk: Packet) => c.packets.push(pk));
      s.on('data', (d: Buffer) => p.parse(d));
      s.on('error', (e) => { if (!c.closed) reject(e); });
      s.on('close', () => { c.closed = true; });
    });
  }
  send(p: Packet): void { this.socket.write(generate(p)); }
  drop(): void { this.socket.destroy(); }
  async expect<C extends Packet['cmd']>(cmd: C): Promise<Extract<Packet, { cmd: C }>> {
    await until(10_000, `an MQTT ${cmd}`, () => this.packets.length > this.read);
    const p = this.packets[this.read++]!;
    if (p.cmd !== cmd) throw new Error(`expected ${cmd}, got ${JSON.stringify(p)}`);
    return p as Extract<Packet, { cmd: C }>;
  }
  async connect(clientId: string, clean: boolean): Promise<Extract<Packet, { cmd: 'connack' }>> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 0 });
    return this.expect('connack');
  }
}

interface Received { topic: string; payload: Buffer; qos: number; retain: boolean; dup: boolean }

/** An mqtt.js client that records every message; no automatic reconnect (a test decides). */
async function mqttjs(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient & { got: Received[] }> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, ...opts }) as MqttClient & { got: Received[] };
  c.got = [];
  c.on('message', (t, payload, packet) => c.got.push({ topic: t, payload, qos: packet.qos, retain: packet.retain, dup: packet.dup }));
  return c;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** mosquitto_sub in the background: its stdout lines as they come. */
function mosquittoSub(args: string[]): { child: ChildProcess; lines: string[]; done: Promise<number | null> } {
  // Line-buffered: its -d lines (SUBACK) must come as they happen, not at exit.
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, lines, done };
}

async function sample(port: number, name: string, labels: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(name) && l.includes(labels));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('MQTT with third-party clients (real processes)', { timeout: 180_000 }, () => {
  const h = new Harness('mqtt');
  let pki: TestPki;
  let gateway: Gateway;
  let url: string;
  let wsUrl: string;
  let mqttsPort: number;
  let port: number;
  const open = new Set<MqttClient>();
  const children = new Set<ChildProcess>();
  const stomp = new Clients(() => gateway.stompUri);
  const track = <C extends MqttClient>(c: C): C => { open.add(c); return c; };

  before(() => {
    const r = spawnSync('mosquitto_pub', ['--help'], { encoding: 'utf8' });
    if (r.error) throw new Error(`mosquitto-clients is not installed (run tools/scripts/setup.sh, or apt-get install -y mosquitto-clients): ${r.error.message}`);
  });
  before(async () => {
    const dir = join(h.root, 'pki');
    mkdirSync(dir);
    pki = makeTestPki(dir);
    const store = await h.startStore({ args: STORE_ARGS });
    gateway = await h.startGateway(store, {
      args: ['--mqtt.enabled', 'true', '--mqtt.port', '0', '--mqtts.enabled', 'true', '--mqtts.port', '0', '--ssl.port', '0', '--wss.port', '0',
        '--ssl.cert', pki.server.cert, '--ssl.key', pki.server.key, '--ssl.ca', pki.ca.cert],
    });
    port = gateway.field('mqttPort');
    mqttsPort = gateway.field('mqttsPort');
    url = `mqtt://127.0.0.1:${port}`;
    wsUrl = `ws://127.0.0.1:${gateway.wsPort}/`;
  });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await Promise.all([...open].map((c) => c.endAsync(true).catch(() => undefined)));
    open.clear();
    for (const ch of children) if (ch.exitCode === null) ch.kill('SIGKILL');
    children.clear();
    await stomp.closeAll();
  });
  after(() => h.close());

  it('mqtt.js over TCP: QoS 0, 1 and 2 both ways, each message once, payload bytes unchanged', async () => {
    const t = topic('qos');
    const sub = track(await mqttjs(url, { clientId: `sub-${t}` }));
    const granted = await sub.subscribeAsync(t, { qos: 2 });
    assert.deepEqual(granted.map((g) => g.qos), [2]);
    const pub = track(await mqttjs(url, { clientId: `pub-${t}` }));
    const binary = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x0a]);
    await pub.publishAsync(t, binary, { qos: 0 });
    await pub.publishAsync(t, 'one', { qos: 1 });
    await pub.publishAsync(t, 'two', { qos: 2 });
    await until(10_000, 'sub.got.length >= 3', () => sub.got.length >= 3);
    await new Promise((r) => setTimeout(r, 300)); // nothing more may come
    assert.equal(sub.got.length, 3);
    assert.deepEqual(sub.got[0]!.payload, binary);
    assert.deepEqual(sub.got.map((m) => [m.payload.toString(), m.qos]).slice(1), [['one', 1], ['two', 2]]);
  });

  it('STOMP -> MQTT and MQTT -> STOMP: one namespace (a/b <-> /topic/a.b), bodies unchanged', async () => {
    const t = topic('bridge');
    const m = track(await mqttjs(url, { clientId: `m-${t}` }));
    await m.subscribeAsync(`${t.split('/')[0]}/+`, { qos: 1 }).catch(() => undefined); // wildcards when the core has them
    await m.subscribeAsync(t, { qos: 1 });
    const s = await stomp.connect();
    const stompSub = await s.subscribe(dest(t));
    // STOMP -> MQTT: a persistent message arrives at QoS 1, body as sent.
    await s.send(dest(t), 'from stomp ✓', { persistent: true });
    await until(10_000, "m.got.some((g) => g.payload.toString() === 'from stomp ✓')", () => m.got.some((g) => g.payload.toString() === 'from stomp ✓'));
    const got = m.got.find((g) => g.payload.toString() === 'from stomp ✓')!;
    assert.deepEqual([got.topic, got.qos], [t, 1]);
    // MQTT -> STOMP.
    await m.publishAsync(t, Buffer.from('from mqtt ✓'), { qos: 1 });
    const inStomp = texts(await drain(stompSub, 700));
    assert.ok(inStomp.includes('from mqtt ✓'), `STOMP got ${JSON.stringify(inStomp)}`);
    assert.equal(m.got.filter((g) => g.payload.toString() === 'from stomp ✓').length, 1, 'overlapping subscriptions: one copy');
  });

  it('mosquitto_pub and mosquitto_sub: QoS 0, 1, 2 over TCP', async () => {
    const t = topic('mosq');
    // -d: mosquitto_sub says when its SUBACK came, so nothing is published before it listens.
    const sub = mosquittoSub(['-d', '-h', '127.0.0.1', '-p', String(port), '-t', t, '-q', '2', '-C', '3', '-v', '-i', `msub-${t.replace(/\//g, '-')}`]);
    children.add(sub.child);
    await until(10_000, "sub.lines.some((l) => l.includes('received SUBACK'))", () => sub.lines.some((l) => l.includes('received SUBACK')));
    for (const q of [0, 1, 2]) {
      const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', t, '-q', String(q), '-m', `mosq-q${q}`], 15_000);
      assert.equal(r.code, 0, `mosquitto_pub -q ${q}: ${r.stderr}`);
    }
    const code = await Promise.race([sub.done, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
    assert.equal(code, 0, `mosquitto_sub: ${sub.lines.join('\n')}`);
    assert.deepEqual(sub.lines.filter((l) => l.startsWith(`${t} `)), [`${t} mosq-q0`, `${t} mosq-q1`, `${t} mosq-q2`]);
  });

  it('persistent session across a client restart: QoS 1/2 messages kept while away, delivered without re-subscribing; session present', async () => {
    const t = topic('persist');
    const clientId = `keep-${randomBytes(4).toString('hex')}`;
    const first = track(await mqttjs(url, { clientId, clean: false }));
    await first.subscribeAsync(t, { qos: 1 });
    await first.endAsync();
    open.delete(first);
    // While the client is away: a STOMP producer and an MQTT one.
    const s = await stomp.connect();
    await s.send(dest(t), 'away-1', { persistent: true });
    const p = track(await mqttjs(url, { clientId: `p-${clientId}` }));
    await p.publishAsync(t, 'away-2', { qos: 1 });
    await p.publishAsync(t, 'away-3', { qos: 2 });
    // The restarted client: same id, clean false, no SUBSCRIBE.
    let sessionPresent: boolean | undefined;
    const again = track(await new Promise<MqttClient & { got: Received[] }>((resolve, reject) => {
      const c = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0, protocolVersion: 4 }) as MqttClient & { got: Received[] };
      c.got = [];
      c.on('message', (tp, payload, packet) => c.got.push({ topic: tp, payload, qos: packet.qos, retain: packet.retain, dup: packet.dup }));
      c.once('connect', (ack) => { sessionPresent = ack.sessionPresent; resolve(c); });
      c.once('error', reject);
    }));
    assert.equal(sessionPresent, true, 'CONNACK session present [MQTT-3.2.2-2]');
    await until(10_000, 'again.got.length >= 3', () => again.got.length >= 3);
    assert.deepEqual(again.got.map((g) => g.payload.toString()).sort(), ['away-1', 'away-2', 'away-3']);
    // Clean session discards it [MQTT-3.1.2-6]: a clean connect, then a persistent one, finds nothing.
    await again.endAsync();
    open.delete(again);
    const discardsBefore = await sample(gateway.httpPort, 'hawser_gateway_mqtt_session_discards_total', 'result="done"');
    const clean = track(await mqttjs(url, { clientId, clean: true }));
    // The discard runs behind the clean CONNACK: wait for it.
    await until(10_000, 'the discard done', async () => (await sample(gateway.httpPort, 'hawser_gateway_mqtt_session_discards_total', 'result="done"')) >= discardsBefore + 1);
    await clean.endAsync();
    open.delete(clean);
    await s.send(dest(t), 'after-clean', { persistent: true });
    const fresh = track(await new Promise<MqttClient & { got: Received[]; present: boolean }>((resolve, reject) => {
      const c = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0, protocolVersion: 4 }) as MqttClient & { got: Received[]; present: boolean };
      c.got = [];
      c.on('message', (tp, payload, packet) => c.got.push({ topic: tp, payload, qos: packet.qos, retain: packet.retain, dup: packet.dup }));
      c.once('connect', (ack) => { c.present = ack.sessionPresent; resolve(c); });
      c.once('error', reject);
    }));
    assert.equal(fresh.present, false, 'the clean session discarded the persistent one');
    await new Promise((r) => setTimeout(r, 700));
    assert.deepEqual(fresh.got.map((g) => g.payload.toString()), [], 'no subscription survived the clean session');
  });

  it('a persistent session outlives more reconnects than broker.maximumRedeliveries (its records are rewritten on each connect)', async () => {
    // STORE_ARGS sets broker.maximumRedeliveries 2: a record redelivered on every connect would be dead-lettered by the third.
    const clientId = `often-${randomBytes(4).toString('hex')}`;
    const t = topic('often');
    const first = track(await mqttjs(url, { clientId, clean: false }));
    await first.subscribeAsync(t, { qos: 1 });
    await first.endAsync();
    open.delete(first);
    const p = track(await mqttjs(url, { clientId: `p-${clientId}` }));
    for (let i = 0; i < 6; i++) {
      await p.publishAsync(t, `while away ${i}`, { qos: 1 });
      let present: boolean | undefined;
      const c = track(await new Promise<MqttClient & { got: Received[] }>((resolve, reject) => {
        const x = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0, protocolVersion: 4 }) as MqttClient & { got: Received[] };
        x.got = [];
        x.on('message', (tp, payload, packet) => x.got.push({ topic: tp, payload, qos: packet.qos, retain: packet.retain, dup: packet.dup }));
        x.once('connect', (ack) => { present = ack.sessionPresent; resolve(x); });
        x.once('error', reject);
      }));
      assert.equal(present, true, `session present on reconnect ${i + 1}`);
      await until(10_000, `message ${i} after reconnect ${i + 1}`, () => c.got.some((g) => g.payload.toString() === `while away ${i}`));
      c.stream.destroy(); // dropped, not disconnected: what a device does
      open.delete(c);
      await until(5_000, 'the drop seen', () => !c.connected);
    }
  });

  it('will: published when the client drops without DISCONNECT, not after DISCONNECT', async () => {
    const t = topic('will');
    const watcher = track(await mqttjs(url, { clientId: `w-${t}` }));
    await watcher.subscribeAsync(t, { qos: 1 });
    const dying = track(await mqttjs(url, { clientId: `dying-${t}`, will: { topic: t, payload: Buffer.from('it died'), qos: 1, retain: false } }));
    const polite = track(await mqttjs(url, { clientId: `polite-${t}`, will: { topic: t, payload: Buffer.from('should not'), qos: 1, retain: false } }));
    await polite.endAsync();
    open.delete(polite);
    dying.stream.destroy(); // the socket drops: no DISCONNECT
    await until(10_000, 'watcher.got.length >= 1', () => watcher.got.length >= 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(watcher.got.map((g) => g.payload.toString()), ['it died']);
  });

  it('client-id takeover: a second connection with the same id closes the first', async () => {
    const clientId = `twin-${randomBytes(4).toString('hex')}`;
    const first = track(await mqttjs(url, { clientId }));
    let closed = false;
    first.on('close', () => { closed = true; });
    const second = track(await mqttjs(url, { clientId }));
    await until(10_000, 'closed', () => closed);
    assert.equal(second.connected, true);
    await second.publishAsync(topic('twin'), 'still works', { qos: 1 });
  });

  it('client-id takeover across gateways: a CONNECT on another gateway closes the first; the persistent session moves with its backlog', async () => {
    const other = await h.startGateway(h.stores[0]!, { id: 'gw-two', args: ['--mqtt.enabled', 'true', '--mqtt.port', '0'] });
    const clientId = `roam-${randomBytes(4).toString('hex')}`;
    const t = topic('roam');
    const first = track(await mqttjs(url, { clientId, clean: false }));
    await first.subscribeAsync(t, { qos: 1 });
    let closed = false;
    first.on('close', () => { closed = true; });
    const p = track(await mqttjs(url, { clientId: `p-${clientId}` }));
    await p.publishAsync(t, 'before', { qos: 1 });
    await until(10_000, 'the first copy', () => first.got.length === 1);
    // The same client id on the other gateway, while the first connection is alive.
    let present: boolean | undefined;
    const second = track(await new Promise<MqttClient & { got: Received[] }>((resolve, reject) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${other.field('mqttPort')}`, { clientId, clean: false, reconnectPeriod: 0, protocolVersion: 4 }) as MqttClient & { got: Received[] };
      c.got = [];
      c.on('message', (tp, payload, packet) => c.got.push({ topic: tp, payload, qos: packet.qos, retain: packet.retain, dup: packet.dup }));
      c.once('connect', (ack) => { present = ack.sessionPresent; resolve(c); });
      c.once('error', reject);
    }));
    await until(10_000, 'the first connection closed', () => closed);
    assert.equal(present, true, 'the session came along');
    await p.publishAsync(t, 'after', { qos: 1 });
    await until(10_000, 'the message on the other gateway', () => second.got.some((g) => g.payload.toString() === 'after'));
    assert.ok(await sample(other.httpPort, 'hawser_gateway_mqtt_takeovers_total', '') >= 0);
    assert.ok(await sample(gateway.httpPort, 'hawser_gateway_mqtt_takeovers_total', '') >= 1, 'the first gateway counted the takeover');
  });

  it('a store node\'s embedded gateway serves MQTT too (in-process on the master): QoS 1 and 2 both ways', async () => {
    const node = await h.startStore({ id: 'emb', args: ['--gateway.enabled', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0', '--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', '0'] });
    const u = `mqtt://127.0.0.1:${node.field('mqttPort')}`;
    const t = topic('embedded');
    const s = track(await mqttjs(u, { clientId: `es-${t.replace(/\//g, '-')}`, clean: false }));
    await s.subscribeAsync(t, { qos: 2 });
    const p = track(await mqttjs(u, { clientId: `ep-${t.replace(/\//g, '-')}` }));
    await p.publishAsync(t, 'one', { qos: 1 });
    await p.publishAsync(t, 'two', { qos: 2 });
    await until(10_000, 'both', () => s.got.length >= 2);
    assert.deepEqual(s.got.map((g) => [g.payload.toString(), g.qos]), [['one', 1], ['two', 2]]);
  });

  it('MQTT over WebSocket (mqtt.js ws://, subprotocol mqtt) and over TLS (mqtt.js mqtts://, mosquitto_pub --cafile)', async () => {
    const t = topic('transports');
    const viaWs = track(await mqttjs(wsUrl, { clientId: `ws-${t}` }));
    await viaWs.subscribeAsync(t, { qos: 1 });
    const viaTls = track(await mqttjs(`mqtts://127.0.0.1:${mqttsPort}`, { clientId: `tls-${t}`, ca: [readFileSync(pki.ca.cert)], servername: 'localhost' }));
    await viaTls.publishAsync(t, 'over tls', { qos: 1 });
    const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttsPort), '--cafile', pki.ca.cert, '--insecure', '-t', t, '-q', '1', '-m', 'mosquitto over tls'], 15_000);
    assert.equal(r.code, 0, `mosquitto_pub over TLS: ${r.stderr}`);
    await until(10_000, 'viaWs.got.length >= 2', () => viaWs.got.length >= 2);
    assert.deepEqual(viaWs.got.map((g) => g.payload.toString()), ['over tls', 'mosquitto over tls']);
    assert.ok(await sample(gateway.httpPort, 'hawser_gateway_connections_total', 'protocol="mqtts"') >= 2);
    assert.ok(await sample(gateway.httpPort, 'hawser_gateway_connections_total', 'protocol="mqtt+ws"') >= 1);
  });

  it('QoS 2: the same PUBLISH resent WITHOUT DUP after a reconnect (as mqtt.js does) is not stored twice (D11)', async () => {
    const t = topic('q2nodup');
    const s = await stomp.connect();
    const watch = await s.subscribe(dest(t));
    const id = `raw-nodup-${randomBytes(3).toString('hex')}`;
    const a = await RawMqtt.open(port);
    assert.equal((await a.connect(id, false)).returnCode, 0);
    a.send({ cmd: 'publish', topic: t, payload: Buffer.from('only once'), qos: 2, messageId: 78, dup: false, retain: false });
    assert.equal((await a.expect('pubrec')).messageId, 78);
    a.drop();
    const b = await RawMqtt.open(port);
    assert.equal((await b.connect(id, false)).sessionPresent, true);
    // The packet id's state comes back from its session record, with what was stored under it.
    b.send({ cmd: 'publish', topic: t, payload: Buffer.from('only once'), qos: 2, messageId: 78, dup: false, retain: false });
    assert.equal((await b.expect('pubrec')).messageId, 78);
    b.send({ cmd: 'pubrel', messageId: 78 });
    assert.equal((await b.expect('pubcomp')).messageId, 78);
    assert.deepEqual(texts(await drain(watch, 700)), ['only once'], 'stored once');
    b.drop();
  });

  it('QoS 2 state survives a reconnect: a DUP PUBLISH after a drop is not stored twice; a PUBREL pending at the drop is sent again', async () => {
    const t = topic('q2state');
    const s = await stomp.connect();
    const watch = await s.subscribe(dest(t));
    // Inbound: PUBLISH, PUBREC, the connection drops before PUBREL.
    const id = `raw-in-${randomBytes(3).toString('hex')}`;
    const a = await RawMqtt.open(port);
    assert.equal((await a.connect(id, false)).returnCode, 0);
    a.send({ cmd: 'publish', topic: t, payload: Buffer.from('exactly once'), qos: 2, messageId: 77, dup: false, retain: false });
    assert.equal((await a.expect('pubrec')).messageId, 77);
    a.drop();
    const b = await RawMqtt.open(port);
    const back = await b.connect(id, false);
    assert.equal(back.sessionPresent, true);
    // The client did not see the PUBREC (as far as it knows): it sends the PUBLISH again with DUP.
    b.send({ cmd: 'publish', topic: t, payload: Buffer.from('exactly once'), qos: 2, messageId: 77, dup: true, retain: false });
    assert.equal((await b.expect('pubrec')).messageId, 77);
    b.send({ cmd: 'pubrel', messageId: 77 });
    assert.equal((await b.expect('pubcomp')).messageId, 77);
    assert.deepEqual(texts(await drain(watch, 700)), ['exactly once'], 'stored once');
    b.drop();

    // Outbound: PUBLISH to the client, its PUBREC, our PUBREL; it drops before PUBCOMP.
    const sid = `raw-out-${randomBytes(3).toString('hex')}`;
    const c = await RawMqtt.open(port);
    await c.connect(sid, false);
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 2 }] });
    await c.expect('suback');
    const p = track(await mqttjs(url, { clientId: `p-${sid}` }));
    await p.publishAsync(t, 'to a raw client', { qos: 2 });
    const pub = await c.expect('publish');
    assert.equal(pub.qos, 2);
    c.send({ cmd: 'pubrec', messageId: pub.messageId! });
    assert.equal((await c.expect('pubrel')).messageId, pub.messageId);
    c.drop();
    const d = await RawMqtt.open(port);
    assert.equal((await d.connect(sid, false)).sessionPresent, true);
    // [MQTT-4.4.0-1] the PUBREL again, the same packet id; the message itself not again.
    assert.equal((await d.expect('pubrel')).messageId, pub.messageId);
    d.send({ cmd: 'pubcomp', messageId: pub.messageId! });
    d.send({ cmd: 'pingreq' });
    await d.expect('pingresp');
    d.drop();
    // Completed: a further reconnect has nothing to resend.
    const e = await RawMqtt.open(port);
    await e.connect(sid, false);
    e.send({ cmd: 'pingreq' });
    await e.expect('pingresp');

    // A QoS 2 PUBLISH the client never PUBREC'd: after a drop it comes again with its ORIGINAL
    // packet id and DUP [MQTT-4.4.0-1], so a client that delivers on PUBLISH knows it.
    await p.publishAsync(t, 'resent with its id', { qos: 2 });
    const first = await e.expect('publish');
    assert.deepEqual([first.qos, first.dup], [2, false]);
    e.drop();
    const f2 = await RawMqtt.open(port);
    await f2.connect(sid, false);
    const again = await f2.expect('publish');
    assert.deepEqual([again.messageId, again.dup, Buffer.from(again.payload).toString()], [first.messageId, true, 'resent with its id']);
    f2.send({ cmd: 'pubrec', messageId: again.messageId! });
    assert.equal((await f2.expect('pubrel')).messageId, again.messageId);
    f2.send({ cmd: 'pubcomp', messageId: again.messageId! });
    f2.send({ cmd: 'pingreq' });
    await f2.expect('pingresp');
    f2.send({ cmd: 'disconnect' });
  });

  it('QoS 1 PUBLISHes without PUBACK come again after a reconnect with their ORIGINAL packet ids and DUP [MQTT-4.4.0-1]', async () => {
    const t = topic('q1ids');
    const id = `raw-q1-${randomBytes(3).toString('hex')}`;
    const a = await RawMqtt.open(port);
    assert.equal((await a.connect(id, false)).returnCode, 0);
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1 }] });
    await a.expect('suback');
    const p = track(await mqttjs(url, { clientId: `p-${id}` }));
    // Two acknowledged first, so the ids of the unacknowledged ones are not those a fresh connection would pick (1, 2, ...).
    for (const n of [1, 2]) {
      await p.publishAsync(t, `acked ${n}`, { qos: 1 });
      const m = await a.expect('publish');
      a.send({ cmd: 'puback', messageId: m.messageId! });
    }
    for (const n of [1, 2, 3]) await p.publishAsync(t, `unacked ${n}`, { qos: 1 });
    const first = [await a.expect('publish'), await a.expect('publish'), await a.expect('publish')];
    assert.deepEqual(first.map((m) => [m.qos, m.dup]), [[1, false], [1, false], [1, false]]);
    const ids = first.map((m) => m.messageId);
    assert.ok(ids.every((pid) => pid! > 2), `ids past the acknowledged ones: ${ids.join(',')}`);
    a.drop(); // no PUBACK, no DISCONNECT
    const b = await RawMqtt.open(port);
    assert.equal((await b.connect(id, false)).sessionPresent, true);
    const again = [await b.expect('publish'), await b.expect('publish'), await b.expect('publish')];
    assert.deepEqual(again.map((m) => [m.messageId, m.dup, m.qos, Buffer.from(m.payload).toString()]),
      first.map((m) => [m.messageId, true, 1, Buffer.from(m.payload).toString()]), 'the same ids, DUP set');
    for (const m of again) b.send({ cmd: 'puback', messageId: m.messageId! });
    b.send({ cmd: 'pingreq' });
    await b.expect('pingresp');
    b.send({ cmd: 'disconnect' });
    // Acknowledged: a further reconnect has nothing to resend; a new message gets an id as usual.
    await until(5_000, 'the DISCONNECT handled', () => b.closed);
    const c = await RawMqtt.open(port);
    await c.connect(id, false);
    c.send({ cmd: 'pingreq' });
    await c.expect('pingresp');
    await p.publishAsync(t, 'after', { qos: 1 });
    const after = await c.expect('publish');
    assert.deepEqual([after.dup, Buffer.from(after.payload).toString()], [false, 'after']);
    c.send({ cmd: 'puback', messageId: after.messageId! });
    c.send({ cmd: 'disconnect' });
  });

  it('retained: a new subscriber gets the last retained message with the retain flag (wildcard too); an empty one clears it', async () => {
    const base = topic('retain');
    const p = track(await mqttjs(url, { clientId: `rp-${base.replace(/\//g, '-')}` }));
    await p.publishAsync(`${base}/a`, 'old', { qos: 1, retain: true });
    await p.publishAsync(`${base}/a`, 'kept', { qos: 1, retain: true });
    await p.publishAsync(`${base}/b`, 'not retained', { qos: 1 });
    const s1 = track(await mqttjs(url, { clientId: `rs1-${base.replace(/\//g, '-')}` }));
    await s1.subscribeAsync(`${base}/a`, { qos: 1 });
    await until(10_000, 'the retained message', () => s1.got.length >= 1);
    assert.deepEqual(s1.got.map((g) => [g.topic, g.payload.toString(), g.retain]), [[`${base}/a`, 'kept', true]]);
    // A live publication reaches a subscriber without the retain flag [MQTT-3.3.1-9].
    await p.publishAsync(`${base}/a`, 'live', { qos: 1, retain: true });
    await until(10_000, 'the live one', () => s1.got.length >= 2);
    assert.equal(s1.got[1]!.retain, false);
    const s2 = track(await mqttjs(url, { clientId: `rs2-${base.replace(/\//g, '-')}` }));
    await s2.subscribeAsync(`${base}/#`, { qos: 1 });
    await until(10_000, 'the retained message through #', () => s2.got.length >= 1);
    assert.deepEqual(s2.got.map((g) => [g.topic, g.payload.toString(), g.retain]), [[`${base}/a`, 'live', true]]);
    // An empty retained PUBLISH clears [MQTT-3.3.1-10].
    await p.publishAsync(`${base}/a`, '', { qos: 1, retain: true });
    const s3 = track(await mqttjs(url, { clientId: `rs3-${base.replace(/\//g, '-')}` }));
    await s3.subscribeAsync(`${base}/a`, { qos: 1 });
    await p.publishAsync(`${base}/a`, 'marker', { qos: 1 });
    await until(10_000, 'the marker', () => s3.got.some((g) => g.payload.toString() === 'marker'));
    assert.deepEqual(s3.got.map((g) => g.payload.toString()), ['marker'], 'nothing retained any more');
  });

  it('wildcards: + and # match levels; neither matches a $ topic at the first level; session records never show', async () => {
    const base = topic('wild');
    const [root] = base.split('/');
    const s = track(await mqttjs(url, { clientId: `ws-${base.replace(/\//g, '-')}` }));
    const granted = await s.subscribeAsync({ [`${base}/+/c`]: { qos: 1 }, [`${base}/#`]: { qos: 1 }, '#': { qos: 0 } });
    assert.deepEqual(granted.map((g) => g.qos), [1, 1, 0]);
    const p = track(await mqttjs(url, { clientId: `wp-${base.replace(/\//g, '-')}` }));
    await p.publishAsync(`${base}/b/c`, 'abc', { qos: 1 });
    await p.publishAsync(`${base}/x/y/z`, 'deep', { qos: 1 });
    await p.publishAsync(`$SYS/${root}`, 'dollar', { qos: 1 });
    // A persistent session writes records to its $mqtt.session topic: # must not show them.
    const persistent = track(await mqttjs(url, { clientId: `wpers-${base.replace(/\//g, '-')}`, clean: false }));
    await persistent.subscribeAsync(`${base}/p`, { qos: 1 });
    await p.publishAsync(`${base}/end`, 'end', { qos: 1 });
    await until(10_000, 'the end marker', () => s.got.some((g) => g.payload.toString() === 'end'));
    const mine = s.got.filter((g) => g.topic.startsWith(root!) || g.topic.startsWith('$'));
    // One copy each, whatever number of this connection's filters match [MQTT-3.3.5-1].
    assert.deepEqual(mine.map((g) => g.payload.toString()).sort(), ['abc', 'deep', 'end']);
    assert.deepEqual(s.got.filter((g) => g.topic.startsWith('$')), [], 'no $ topic through # or +');
  });

});
