// connections.js: option parsing, the source-address and load-process plans, and one real
// small run (200 idle connections on a separate gateway; no assertions on speed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, run, sourceAddresses, planChildren, ephemeralPorts, medianCell } from './connections';

test('options: defaults, values, and one-line errors naming the option', () => {
  const d = parseArgs([]);
  assert.deepEqual([d.connections, d.heartbeat, d.duration, d.mode, d.json, d.children, d.baseline, d.rounds], [20_000, 10_000, 10, 'separate', false, undefined, 'fresh', 1]);
  const o = parseArgs(['--connections', '500', '--heartbeat', '0', '--duration', '2.5', '--mode', 'embedded', '--children', '3', '--baseline', 'same', '--rounds', '3', '--json']);
  assert.deepEqual([o.connections, o.heartbeat, o.duration, o.mode, o.children, o.baseline, o.rounds, o.json], [500, 0, 2.5, 'embedded', 3, 'same', 3, true]);
  const oneLine = (re: RegExp) => (e: unknown) => re.test((e as Error).message) && !(e as Error).message.includes('\n');
  assert.throws(() => parseArgs(['--connections', '1.5']), oneLine(/^--connections: expected a positive number of connections, got '1\.5'$/));
  assert.throws(() => parseArgs(['--connections', '0']), oneLine(/^--connections: /));
  assert.throws(() => parseArgs(['--heartbeat', '-1']), oneLine(/^--heartbeat: expected a heart-beat interval in ms \(0: none\), got '-1'$/));
  assert.throws(() => parseArgs(['--duration', 'soon']), oneLine(/^--duration: expected a number of seconds, got 'soon'$/));
  assert.throws(() => parseArgs(['--mode', 'shared']), oneLine(/^--mode: unknown 'shared' \(known: separate, embedded\)$/));
  assert.throws(() => parseArgs(['--rate', '0']), oneLine(/^--rate: /));
  assert.throws(() => parseArgs(['--baseline', 'old']), oneLine(/^--baseline: unknown 'old' \(known: fresh, same\)$/));
  assert.throws(() => parseArgs(['--rounds', '0']), oneLine(/^--rounds: expected a positive number of rounds, got '0'$/));
  assert.throws(() => parseArgs(['--duration']), /--duration needs a value\n/);
  assert.throws(() => parseArgs(['--fast', '1']), /unknown option --fast\n/);
});

test('source addresses: none while the ephemeral range holds N, else 127.0.0.2 and up', () => {
  assert.equal(ephemeralPorts('32768\t60999\n'), 28232);
  assert.throws(() => ephemeralPorts('nonsense'), /ip_local_port_range/);
  assert.deepEqual(sourceAddresses(20_000, 28232), []);
  assert.deepEqual(sourceAddresses(20_000, 10_000), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  assert.deepEqual(sourceAddresses(27_232, 28232), []);
  assert.deepEqual(sourceAddresses(27_233, 28232), ['127.0.0.2', '127.0.0.3']);
});

test('load processes: 5,000 connections each by default, more when the fd limit needs it, a clear error naming ulimit -n', () => {
  assert.deepEqual(planChildren(200, undefined, 20_000), { children: 1, perChild: [200] });
  assert.deepEqual(planChildren(20_000, undefined, 20_000).perChild, [5000, 5000, 5000, 5000]);
  assert.deepEqual(planChildren(10, 3, 1024).perChild, [4, 3, 3]);
  assert.equal(planChildren(20_000, undefined, 1024).children, 25);
  assert.throws(() => planChildren(20_000, 1, 20_000), /--children 1: 20000 connections per load process, .*ulimit -n.* 20000; use --children 2 or more/);
});

test('medians: the middle round by msg/s, the lower middle one for an even count', () => {
  const c = (msgPerSec: number, tag: string) => ({ msgPerSec, tag });
  assert.equal(medianCell([c(3, 'a'), c(1, 'b'), c(2, 'c')]).tag, 'c');
  assert.equal(medianCell([c(4, 'a'), c(1, 'b'), c(2, 'c'), c(3, 'd')]).tag, 'c');
  assert.equal(medianCell([c(5, 'a')]).tag, 'a');
});

test('a real small run: 200 idle connections on a separate gateway', { timeout: 120_000 }, async () => {
  const lines: string[] = [];
  const r = await run(parseArgs(['--connections', '200', '--duration', '2', '--warmup', '0', '--mode', 'separate']), (s) => lines.push(s));
  assert.deepEqual(r.errors, [], lines.join('\n'));
  assert.equal(r.connected, 200);
  assert.equal(r.failed, 0);
  assert.equal(r.dropped, 0);
  assert.ok(r.unloaded.msgPerSec > 0 && r.loaded.msgPerSec > 0, `rates ${r.unloaded.msgPerSec} / ${r.loaded.msgPerSec}`);
  assert.ok(Number.isFinite(r.ratio) && r.ratio > 0);
  assert.deepEqual(r.processes.map((p) => p.role), ['gateway', 'store']);
  for (const p of r.processes) assert.ok(p.before.rss > 0 && p.after.rss > 0 && (p.afterLoaded?.rss ?? 0) > 0, `${p.role} RSS ${p.before.rss} -> ${p.after.rss}`);
  assert.ok(lines.some((l) => /200 connected, 0 failed/.test(l)), lines.join('\n'));
  assert.equal(r.rounds.length, 1);
  assert.equal(r.serverHeartBeat, '10000,10000');
});
