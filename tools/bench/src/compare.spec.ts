// compare.js's pure parts: option parsing (clear errors) and the markdown table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { natsRow, parseArgs, table, ROWS, SYSTEMS, type Cell } from './compare';

const cell = (msgPerSec: number, p99ReceiptMs: number, extra: Partial<Cell> = {}): Cell =>
  ({ msgPerSec, p99ReceiptMs, p50ReceiptMs: 1, sent: 1, lost: 0, duplicates: 0, failedSends: 0, exit: 0, ...extra });

test('options: defaults, subsets, and one-line errors', () => {
  const d = parseArgs([]);
  assert.deepEqual([d.duration, d.warmup, d.rowWarmup, d.json, d.systems, d.rows.length], [15, 30, 2, false, [...SYSTEMS], ROWS.length]);
  assert.equal(parseArgs(['--row-warmup', '0']).rowWarmup, 0);
  const o = parseArgs(['--systems', 'standalone,quorum_mem', '--rows', 'w64,half', '--duration', '5', '--json']);
  assert.deepEqual(o.systems, ['standalone', 'quorum_mem']);
  assert.deepEqual(o.rows.map((r) => r.key), ['w64', 'half']);
  assert.equal(o.duration, 5);
  assert.throws(() => parseArgs(['--systems', 'rabbitmq']), /--systems: unknown 'rabbitmq'/);
  assert.throws(() => parseArgs(['--rows', 'w128']), /--rows: unknown 'w128'/);
  assert.throws(() => parseArgs(['--duration', 'soon']), /--duration: expected a number of seconds, got 'soon'/);
  assert.throws(() => parseArgs(['--duration']), /--duration needs a value/);
  assert.throws(() => parseArgs(['--fast', '1']), /unknown option --fast/);
});

test('the table: one row per benchmark row, ratios against ActiveMQ, failures and losses marked', () => {
  const rows = ROWS.filter((r) => r.key === 'rpm' || r.key === 'w64');
  const cells = new Map<string, Cell>([
    ['activemq/rpm', cell(1000, 2.5)], ['standalone/rpm', cell(500, 5)],
    ['activemq/w64', cell(2000, 60)], ['standalone/w64', cell(7000, 22, { lost: 1 })],
  ]);
  const t = table(['activemq', 'standalone'], rows, cells).split('\n');
  assert.equal(t.length, 4);
  assert.match(t[0]!, /\| row \| ActiveMQ 5\.17 \(KahaDB\): msg\/s \(p99 ms\) \| Hawser standalone, separate gateway: msg\/s \(p99 ms\) \| standalone, separate gateway \/ ActiveMQ \|/);
  assert.match(t[2]!, /\| 1,000 \(2\.5\) \| 500 \(5\.0\) \| \*\*0\.50x\*\* \|$/);
  assert.match(t[3]!, /7,000 \(22\) ⚠ lost 1 dup 0 failed 0 \| \*\*3\.50x\*\* \|$/);
  const failed = table(['standalone'], rows, new Map([['standalone/rpm', cell(0, NaN, { error: 'did not start' })]]));
  assert.match(failed, /failed: did not start/);
  assert.doesNotMatch(failed, /ActiveMQ/); // no ratio columns without ActiveMQ
});

test('a row as the NATS driver runs it; a row JetStream cannot run is shown as —', () => {
  const shape = (key: string) => natsRow(ROWS.find((r) => r.key === key)!);
  assert.deepEqual(shape('rpm'), { key: 'rpm', producers: 1, consumers: 1, window: 1, persistent: true });
  assert.deepEqual(shape('p4c4'), { key: 'p4c4', producers: 4, consumers: 4, window: 1, persistent: true });
  assert.deepEqual(shape('np64'), { key: 'np64', producers: 1, consumers: 1, window: 64, persistent: false });
  const half = ROWS.find((r) => r.key === 'half')!;
  assert.equal(natsRow({ ...half, args: [...half.args, '--rate', '2500'] }).rate, 2500);
  const t = table(['nats_r3'], ROWS.filter((r) => r.key === 'np64'), new Map([['nats_r3/np64', cell(0, NaN, { error: 'not applicable' })]]));
  assert.match(t, /\| 1 producer, window 64 \(non-persistent\) \| — \|/);
});
