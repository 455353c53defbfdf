// compare.js's pure parts: option parsing (clear errors) and the markdown table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, table, ROWS, SYSTEMS, type Cell } from './compare';

const cell = (msgPerSec: number, p99ReceiptMs: number, extra: Partial<Cell> = {}): Cell =>
  ({ msgPerSec, p99ReceiptMs, p50ReceiptMs: 1, sent: 1, lost: 0, duplicates: 0, failedSends: 0, exit: 0, ...extra });

test('options: defaults, subsets, and one-line errors', () => {
  const d = parseArgs([]);
  assert.deepEqual([d.duration, d.warmup, d.json, d.systems, d.rows.length], [15, 30, false, [...SYSTEMS], ROWS.length]);
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
