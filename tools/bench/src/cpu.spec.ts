// cpu.js's pure parts: option parsing, the /proc sampler, and the markdown table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, sample, table, type Result } from './cpu';

test('options: defaults, rates with max, one-line errors', () => {
  const d = parseArgs([]);
  assert.deepEqual([d.sync, d.rates, d.duration, d.warmup, d.rowWarmup, d.json], ['quorum_mem', [200, 1000, 2000, 'max'], 8, 4, 2, false]);
  assert.equal(parseArgs(['--row-warmup', '0']).rowWarmup, 0);
  assert.throws(() => parseArgs(['--row-warmup', '1.5']), /--row-warmup: expected a whole number of seconds/);
  const o = parseArgs(['--sync', 'quorum_disk', '--rates', '500,max', '--duration', '3', '--warmup', '0', '--json']);
  assert.deepEqual([o.sync, o.rates, o.duration, o.warmup, o.json], ['quorum_disk', [500, 'max'], 3, 0, true]);
  assert.throws(() => parseArgs(['--sync', 'sometimes']), /--sync: unknown 'sometimes'/);
  assert.throws(() => parseArgs(['--rates', 'fast']), /--rates: expected a rate in msg\/s or 'max', got 'fast'/);
  assert.throws(() => parseArgs(['--duration', '0']), /--duration: expected a number of seconds/);
  assert.throws(() => parseArgs(['--rows', 'w64']), /unknown option --rows/);
  assert.deepEqual(parseArgs(['--store-args', ' --journal.writeDelayMs 0  --journal.maxInflight 1']).storeArgs, ['--journal.writeDelayMs', '0', '--journal.maxInflight', '1']);
  assert.throws(() => parseArgs(['--store-args', '--journal.writeDelayMs']), /--store-args: expected '--flag value' pairs/);
});

test('sample: this process has CPU ticks and wake-ups; a gone pid is undefined', () => {
  const s = sample(process.pid);
  assert.ok(s && s.ticks >= 0 && s.wakeups > 0, JSON.stringify(s));
  assert.equal(sample(2 ** 22 + 12345), undefined);
});

test('the table: a line per rate, per-process figures in the given order, unpaced named', () => {
  const r = (rate: number | 'max', cpu: number): Result => ({
    rate, msgPerSec: rate === 'max' ? 5000 : rate, p50Ms: 2, p99Ms: 20, messages: 100, lost: 0, duplicates: 0,
    perMessage: { master: { cpuMs: cpu, wakeups: 4 }, gateway: { cpuMs: cpu / 2, wakeups: 2 } }, totalCpuMsPerMessage: cpu * 1.5, machineBusy: 0.5,
  });
  const t = table([r(200, 2), r('max', 0.1)], ['master', 'gateway', 'bench']).split('\n');
  assert.equal(t.length, 4);
  assert.match(t[0]!, /CPU ms per message: master \/ gateway \/ bench \/ total/);
  assert.equal(t[2], '| 200/s | 200 | 2.00 / 20.0 | 2.00 / 1.00 / - / **3.00** | 4.00 / 2.00 / - | 50% |');
  assert.match(t[3]!, /^\| unpaced \| 5,000 \|/);
});
