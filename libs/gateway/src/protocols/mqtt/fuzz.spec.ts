// A seeded fuzz run of the MQTT adapter (the MQTT side of tools/fuzz's STOMP fuzzing): thousands
// of generated packets, mutated (bits flipped, bytes cut, inserted, lengths rewritten) and plain
// garbage, written over many TCP connections at a gateway on a FakeBroker, while a witness MQTT
// client publishes at QoS 1 and must keep getting its PUBACKs. Afterwards: no error logged (no
// internal error, nothing thrown past the adapter), every fuzz connection closed or answered,
// and the gateway still takes new clients. HAWSER_MQTT_FUZZ_SEED replays a run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { connect as netConnect, type Socket } from 'node:net';
import pino from 'pino';
import { generate, parser as mqttParser, type Packet } from 'mqtt-packet';
import { loadConfig } from '@hawser/config';
import { schema } from '../../config';
import { startGateway, type Gateway } from '../../gateway';
import { FakeBroker, checkFor } from '../../testkit';

const PACKETS = Number(process.env.HAWSER_MQTT_FUZZ_PACKETS ?? 4000);
const SEED = Number(process.env.HAWSER_MQTT_FUZZ_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded PRNG, so a failing seed replays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const TOPICS = ['a', 'a/b', 'a/+', '#', '+/x', '$SYS/x', '', 'a//b', 'ü/ß', 'x'.repeat(300), 'a/#/b'];

function randomPacket(): Packet {
  const qos = int(3) as 0 | 1 | 2;
  const messageId = 1 + int(65535);
  switch (int(11)) {
    case 0: return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: rand() < 0.5, clientId: pick(['', 'fz', `fz-${int(50)}`]), keepalive: int(3), ...(rand() < 0.3 ? { will: { topic: pick(TOPICS) || 'w', payload: Buffer.from('w'), qos, retain: rand() < 0.5 } } : {}) };
    case 1: case 2: case 3: return { cmd: 'publish', topic: pick(TOPICS) || 't', payload: Buffer.alloc(int(64), int(256)), qos, dup: rand() < 0.3, retain: rand() < 0.2, ...(qos > 0 ? { messageId } : {}) };
    case 4: return { cmd: 'subscribe', messageId, subscriptions: [{ topic: pick(TOPICS) || 's', qos }] };
    case 5: return { cmd: 'unsubscribe', messageId, unsubscriptions: [pick(TOPICS) || 'u'] };
    case 6: return { cmd: 'puback', messageId };
    case 7: return { cmd: 'pubrec', messageId };
    case 8: return { cmd: 'pubrel', messageId };
    case 9: return { cmd: 'pubcomp', messageId };
    default: return rand() < 0.5 ? { cmd: 'pingreq' } : { cmd: 'disconnect' };
  }
}

/** A random packet's bytes; one mqtt-packet will not generate (it checks some rules) becomes garbage. */
function generated(): Buffer {
  try {
    return generate(randomPacket());
  } catch {
    return Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)));
  }
}

function mutate(b: Buffer): Buffer {
  const out = Buffer.from(b);
  switch (int(5)) {
    case 0: if (out.length) out[int(out.length)] ^= 1 << int(8); return out;                  // a bit
    case 1: return out.subarray(0, int(out.length + 1));                                        // cut
    case 2: { const i = int(out.length + 1); return Buffer.concat([out.subarray(0, i), Buffer.from([int(256)]), out.subarray(i)]); }
    case 3: if (out.length > 1) out[1] = int(256); return out;                                  // the length byte
    default: if (out.length) out[0] = (out[0]! & 0xf0) | int(16); return out;                  // the flags
  }
}

let broker: FakeBroker;
let gw: Gateway;
let errorLines = 0;
const errors: string[] = [];

before(async () => {
  broker = await new FakeBroker().start();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const j = JSON.parse(line) as { level: number; msg: string };
        if (j.level >= 50) { errorLines++; if (errors.length < 5) errors.push(line); }
      }
      done();
    },
  });
  gw = await startGateway(loadConfig(schema, {
    env: {},
    argv: ['--auth.anonymous', 'true', '--gateway.id', 'gw-fuzz', '--store.address', broker.address, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0',
      '--mqtt.enabled', 'true', '--mqtt.port', '0', '--mqtt.maxPacketSize', '2048', '--limits.connectTimeout', '2000',
      '--limits.maxConnectionsPerAddress', '1000'],
  }).config, { log: pino({ level: 'warn' }, sink) });
});
after(async () => {
  await gw.stop();
  await broker.stop();
});

test(`MQTT fuzz: ${PACKETS} generated, mutated and garbage packets (seed ${SEED}) hurt no other client and log no error`, { timeout: 120_000 }, async () => {
  // The witness: a QoS 1 publisher that must keep getting PUBACKs.
  const witness = netConnect(gw.mqttPort, '127.0.0.1');
  const acks: number[] = [];
  const wp = mqttParser({ protocolVersion: 4 });
  wp.on('packet', (p: Packet) => { if (p.cmd === 'puback') acks.push(Date.now()); });
  witness.on('data', (d: Buffer) => wp.parse(d));
  witness.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'witness', keepalive: 0 }));
  let wid = 0;
  const ticker = setInterval(() => {
    wid = wid === 65535 ? 1 : wid + 1;
    witness.write(generate({ cmd: 'publish', topic: 'witness', payload: Buffer.from('still here'), qos: 1, messageId: wid, dup: false, retain: false }));
  }, 20);
  let maxGap = 0;
  let last = Date.now();
  const gapCheck = setInterval(() => {
    const newest = acks[acks.length - 1] ?? last;
    last = newest;
    maxGap = Math.max(maxGap, Date.now() - newest);
  }, 50);

  let sent = 0;
  const sockets: Socket[] = [];
  try {
    while (sent < PACKETS) {
      // A batch of connections, each: a CONNECT (valid or not), then a burst of packets, some mutated.
      await Promise.all(Array.from({ length: 16 }, () => new Promise<void>((resolve) => {
        const s = netConnect(gw.mqttPort, '127.0.0.1');
        sockets.push(s);
        s.on('error', () => undefined);
        s.on('close', () => resolve());
        s.on('connect', () => {
          const parts: Buffer[] = [];
          if (rand() < 0.8) parts.push(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `fz-${int(1000)}`, keepalive: 0 }));
          const n = 1 + int(12);
          for (let i = 0; i < n; i++) {
            const r = rand();
            const bytes = r < 0.1 ? Buffer.from(Array.from({ length: int(40) }, () => int(256))) : generated();
            parts.push(r > 0.6 ? mutate(bytes) : bytes);
          }
          sent += n;
          s.write(Buffer.concat(parts));
          // Leave it to the gateway to close it; cut it ourselves after a while otherwise.
          setTimeout(() => s.destroy(), 100).unref();
        });
      })));
    }
  } finally {
    clearInterval(ticker);
    clearInterval(gapCheck);
  }
  await checkFor('the witness\'s last PUBACK', () => acks.length > 0 && Date.now() - acks[acks.length - 1]! < 1_000, 5_000);
  witness.destroy();
  assert.ok(maxGap < 5_000, `the witness went ${maxGap} ms without a PUBACK`);
  assert.equal(errorLines, 0, `error lines logged:\n${errors.join('\n')}`);
  // Still takes a new client.
  const fresh = netConnect(gw.mqttPort, '127.0.0.1');
  const got: Packet[] = [];
  const fp = mqttParser({ protocolVersion: 4 });
  fp.on('packet', (p: Packet) => got.push(p));
  fresh.on('data', (d: Buffer) => fp.parse(d));
  fresh.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'after', keepalive: 0 }));
  await checkFor('a CONNACK after the fuzzing', () => got.some((p) => p.cmd === 'connack' && p.returnCode === 0));
  fresh.destroy();
  const closedCount = (await gw.registry.getMetricsAsJSON()).find((m) => m.name === 'hawser_gateway_mqtt_protocol_errors_total');
  assert.ok(closedCount && closedCount.values.length > 0, 'bad input was seen and closed');
});
