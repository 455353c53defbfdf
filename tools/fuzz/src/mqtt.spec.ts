// The MQTT side of the fuzzer (--protocol mqtt): generated packets are what mqtt-packet (the
// gateway's codec) reads — well-formed ones parse as what they claim, hostile ones do not parse
// or break a rule the gateway checks; a seed replays the same bytes; floods keep to the budget;
// the command line takes --protocol mqtt with mqtt:// URIs only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parser as mqttParser, type Packet } from 'mqtt-packet';
import { Prng } from './prng';
import { MqttPacketGenerator, MqttScript, rawPacket, remainingLength } from './mqtt-packets';
import { parseArgs } from './cli';

/** Parses bytes as a server would (client packets, protocol level 4): the packets, or the error. */
function parse(bytes: Buffer): { packets: Packet[]; error?: string } {
  const p = mqttParser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  let error: string | undefined;
  p.on('packet', (pk: Packet) => packets.push(pk));
  p.on('error', (e: Error) => { error ??= e.message; });
  p.parse(bytes);
  return { packets, error };
}

describe('fuzz: MQTT packets', () => {
  it('the remaining length varint and hand-built packets', () => {
    assert.deepEqual([...remainingLength(0)], [0]);
    assert.deepEqual([...remainingLength(127)], [0x7f]);
    assert.deepEqual([...remainingLength(128)], [0x80, 0x01]);
    assert.deepEqual([...remainingLength(268_435_455)], [0xff, 0xff, 0xff, 0x7f]);
    const ping = rawPacket(12, 0, Buffer.alloc(0));
    assert.equal(parse(ping).packets[0]?.cmd, 'pingreq');
  });

  it('well-formed packets parse as what they claim; a seed gives the same bytes', () => {
    const kinds = new Map<string, number>();
    const g = new MqttPacketGenerator(new Prng(11), { username: 'u', password: 'p' });
    const again = new MqttPacketGenerator(new Prng(11), { username: 'u', password: 'p' });
    let valid = 0;
    let hostile = 0;
    for (let i = 0; i < 3000; i++) {
      const batch = i % 10 === 0 ? [g.connect()] : g.next(50);
      const same = i % 10 === 0 ? [again.connect()] : again.next(50);
      assert.deepEqual(batch.map((x) => x.bytes), same.map((x) => x.bytes), 'replayed');
      for (const p of batch) {
        kinds.set(p.kind, (kinds.get(p.kind) ?? 0) + 1);
        if (!p.valid) { hostile++; continue; }
        valid++;
        const r = parse(p.bytes);
        // mqtt-packet generates MQTT 5 CONNECTs when asked (protocol level 5): parsed with level 4 they may fail.
        if (p.kind === 'connect' && r.error) continue;
        assert.equal(r.error, undefined, `${p.kind}: ${r.error}`);
        assert.equal(r.packets.length, 1, p.kind);
        const want = p.kind === 'second-connect' ? 'connect' : p.kind.replace(/^server-/, '').replace(/^(qos2|pid)-flood$/, 'publish');
        assert.equal(r.packets[0]!.cmd, want);
      }
    }
    assert.ok(valid > 2000 && hostile > 100, `valid ${valid}, hostile ${hostile}`);
    for (const k of ['connect', 'publish', 'subscribe', 'unsubscribe', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'pingreq', 'second-connect', 'qos2-flood', 'pid-flood']) {
      assert.ok(kinds.has(k), `${k} generated: ${[...kinds.keys()].join(',')}`);
    }
  });

  it('hostile packets: a 256 MiB length, a five-byte length, reserved flags and types — none parses as the packet it pretends to be', () => {
    const g = new MqttPacketGenerator(new Prng(5));
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const h = g.hostile();
      seen.add(h.kind);
      assert.equal(h.valid, false);
      const r = parse(h.bytes);
      if (h.kind === 'huge-length') assert.equal(r.packets.length, 0, 'waits for 256 MiB (the gateway refuses it at the length)');
      if (['five-byte-length', 'reserved-type', 'subscribe-flags', 'pubrel-flags', 'unsubscribe-flags', 'publish-qos3', 'connect-flags', 'connect-reserved-bit'].includes(h.kind)) {
        assert.ok(r.error !== undefined || r.packets.length === 0, `${h.kind} parsed: ${JSON.stringify(r.packets[0])}`);
      }
    }
    for (const k of ['huge-length', 'five-byte-length', 'reserved-type', 'subscribe-flags', 'pubrel-flags', 'publish-qos3', 'connect-flags', 'topic-invalid-utf8', 'pid-zero', 'empty-client-id-persistent']) assert.ok(seen.has(k), k);
  });

  it('a script: a CONNECT first (or garbage, or none), packets after, floods within the budget, the same bytes for a seed', () => {
    const kinds = new Set<string>();
    for (let n = 0; n < 300; n++) {
      const run = (seed: number) => {
        const s = new MqttScript(new Prng(seed), 400);
        const bytes: Buffer[] = [];
        let frames = 0;
        let first: boolean | undefined;
        for (let b = s.next(); b; b = s.next()) { first ??= b.connect; frames += b.frames; bytes.push(...b.writes); }
        return { s, bytes: Buffer.concat(bytes), frames, first };
      };
      const a = run(1000 + n);
      const b = run(1000 + n);
      kinds.add(a.s.kind);
      assert.ok(a.bytes.equals(b.bytes), 'replayed');
      assert.ok(a.frames <= 401 + 1, `frames ${a.frames} within the budget (+ the DISCONNECT)`);
      if (a.s.kind === 'mqtt') {
        assert.equal(a.first, true);
        assert.equal(parse(a.bytes).packets[0]?.cmd ?? 'connect', 'connect', 'the first packet is a CONNECT');
      }
    }
    assert.deepEqual([...kinds].sort(), ['garbage', 'mqtt', 'mutated-connect', 'no-connect']);
  });

  it('the command line: --protocol mqtt with mqtt:// URIs; a STOMP URI with it (or an mqtt:// one without) is a usage error', () => {
    const { options } = parseArgs(['--protocol', 'mqtt', '--uri', 'mqtt://127.0.0.1:1883,mqtt://127.0.0.1:1884', '--frames', '200000', '--seed', '3'], () => undefined);
    assert.deepEqual([options.protocol, options.uris.length, options.frames, options.seed], ['mqtt', 2, 200_000, 3]);
    assert.throws(() => parseArgs(['--protocol', 'mqtt', '--uri', 'stomp://a:1'], () => undefined), /does not go with --protocol mqtt/);
    assert.throws(() => parseArgs(['--uri', 'mqtt://a:1'], () => undefined), /does not go with --protocol stomp/);
    assert.throws(() => parseArgs(['--protocol', 'amqp', '--uri', 'stomp://a:1'], () => undefined), /--protocol: expected stomp or mqtt/);
  });
});
