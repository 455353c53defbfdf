// mqtt.js (the benchmark): option parsing, payload ids, the ledger, the table of medians with
// their spread, Mosquitto's config; and one short cell against a real private Mosquitto
// (Debian's `mosquitto`; without it the test fails with the install hint, it is not skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { benchMqtt, failedCell, Ledger, mosquittoConf, parseArgs, parsePayload, payload, roundOrder, startMosquitto, table, DEFAULT_SYSTEMS, type MqttCell, type RunRecord } from './mqtt';

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

test('options: defaults, subsets, one-line errors; rounds alternate the order', () => {
  const d = parseArgs([]);
  assert.deepEqual([d.duration, d.rounds, d.window, d.size, d.warmup, d.clientNoDelay, d.json, d.systems], [10, 3, 64, 1024, 30, true, false, DEFAULT_SYSTEMS]);
  assert.equal(parseArgs(['--client-nodelay', 'false']).clientNoDelay, false);
  assert.throws(() => parseArgs(['--client-nodelay', 'yes']), /--client-nodelay: expected true or false, got 'yes'/);
  const o = parseArgs(['--systems', 'embedded,mosquitto_nagle', '--rounds', '2', '--window', '1', '--duration', '5', '--json']);
  assert.deepEqual([o.systems, o.rounds, o.window, o.duration, o.json], [['embedded', 'mosquitto_nagle'], 2, 1, 5, true]);
  assert.throws(() => parseArgs(['--systems', 'rabbitmq']), /--systems: unknown 'rabbitmq'/);
  assert.throws(() => parseArgs(['--rounds', '1.5']), /--rounds: expected a positive integer, got '1\.5'/);
  assert.throws(() => parseArgs(['--size', '10']), /--size: expected at least 64 bytes/);
  assert.throws(() => parseArgs(['--duration']), /--duration needs a value/);
  assert.throws(() => parseArgs(['--qos', '2']), /unknown option --qos/);
  assert.deepEqual(roundOrder(['embedded', 'activemq', 'mosquitto'], 1), ['embedded', 'activemq', 'mosquitto']);
  assert.deepEqual(roundOrder(['embedded', 'activemq', 'mosquitto'], 2), ['mosquitto', 'activemq', 'embedded']);
});

test('payloads carry their number and send time; the ledger counts lost and duplicated messages', () => {
  const b = payload(12345, 1765000000123.4567, 1024);
  assert.equal(b.length, 1024);
  assert.deepEqual(parsePayload(b), [12345, 1765000000123.457]);
  assert.equal(parsePayload(Buffer.from('hello')), undefined);
  const l = new Ledger();
  l.acked(0); l.acked(1); l.acked(70_000); // grows past its first 64 Ki slots
  l.delivered(1); l.delivered(1); l.delivered(2); // 2: delivered before its PUBACK came
  l.acked(2);
  assert.deepEqual([l.pending, l.received, l.duplicates], [2, 2, 1]);
  l.delivered(70_000);
  assert.equal(l.pending, 1);
});

const cell = (msgPerSec: number, p99AckMs: number, extra: Partial<MqttCell> = {}): MqttCell =>
  ({ ...failedCell('', [1, 1]), msgPerSec, p50AckMs: 2, p99AckMs, p50DeliverMs: 3, p99DeliverMs: p99AckMs + 1, sent: 10, acked: 10, received: 10, error: undefined, ...extra });

test('the table: medians with min-max over rounds, failed rounds with their reason, the ratio to ActiveMQ', () => {
  const runs: RunRecord[] = [
    { round: 1, system: 'embedded', cell: cell(9000, 20) }, { round: 2, system: 'embedded', cell: cell(11000, 30) }, { round: 3, system: 'embedded', cell: cell(10000, 40, { duplicates: 2 }) },
    { round: 1, system: 'activemq', cell: cell(2000, 50) }, { round: 2, system: 'activemq', cell: failedCell('did not start: activemq start failed: no java') },
    { round: 1, system: 'mosquitto', cell: failedCell('did not start: the mosquitto broker is not installed') },
    { round: 1, system: 'standalone', cell: cell(5000, 10, { lost: 3 }) },
  ];
  const t = table(['embedded', 'activemq', 'mosquitto', 'standalone'], runs).split('\n');
  assert.equal(t.length, 6);
  assert.match(t[2]!, /^\| Hawser standalone, embedded gateway \| 10,000 \(9,000-11,000\) \| 2\.0 \(2\.0-2\.0\) \| 30 \(20-40\) \| 31 \(21-41\) \| 0 \/ 2 \/ 0 \| 3\/3 \| 5\.00x \|$/);
  assert.match(t[3]!, /^\| ActiveMQ 5\.17 MQTT connector \(KahaDB\), tcpNoDelay \| 2,000 \| .* \| 1\/2 \(failed: round 2: did not start: activemq start failed: no java\) \| - \|$/);
  assert.match(t[4]!, /^\| Mosquitto .* \| failed: round 1: did not start: the mosquitto broker is not installed \| - \| - \| - \| - \| 0\/1 \| - \|$/);
  assert.match(t[5]!, /\| 3 \/ 0 \/ 0 ⚠ \| 1\/1 \| 2\.50x \|$/);
});

test('mosquitto.conf: loopback listener, persistence in the dir, no queue limit, TCP_NODELAY only when asked', () => {
  const c = mosquittoConf(18830, '/tmp/x', { asRoot: false, noDelay: true });
  for (const line of ['listener 18830 127.0.0.1', 'allow_anonymous true', 'persistence true', 'persistence_location /tmp/x/', 'max_queued_messages 0', 'set_tcp_nodelay true']) {
    assert.ok(c.split('\n').includes(line), `missing '${line}' in\n${c}`);
  }
  assert.doesNotMatch(c, /^user /m);
  const shipped = mosquittoConf(18830, '/tmp/x', { asRoot: true, noDelay: false });
  assert.doesNotMatch(shipped, /set_tcp_nodelay/);
  assert.match(shipped, /^user root$/m);
});

test('a short cell against a private Mosquitto: every PUBACKed message delivered once; stop kills it and removes its dir', { timeout: 60_000 }, async () => {
  const m = await startMosquitto({ noDelay: true });
  try {
    assert.ok(alive(m.pid));
    const c = await benchMqtt(m.url, { durationS: 1, window: 64, size: 1024, tag: `spec-${Date.now().toString(36)}` });
    assert.equal(c.error, undefined, c.error);
    assert.ok(c.acked > 100, `only ${c.acked} PUBACKs`);
    assert.deepEqual({ sent: c.sent, received: c.received, lost: c.lost, duplicates: c.duplicates, failed: c.failed }, { sent: c.acked, received: c.acked, lost: 0, duplicates: 0, failed: 0 });
    assert.ok(c.p50AckMs > 0 && c.p99AckMs >= c.p50AckMs);
    assert.ok((c.clientCores ?? 0) > 0, 'the clients\' CPU measured');
    const gone = await benchMqtt('mqtt://127.0.0.1:1', { durationS: 1, window: 1, size: 64, tag: 'nobody' });
    assert.match(gone.error ?? '', /ECONNREFUSED|connect/);
  } finally {
    await m.stop();
  }
  assert.equal(alive(m.pid), false, 'mosquitto left running');
  assert.equal(existsSync(m.dir), false, `${m.dir} not removed`);
});
