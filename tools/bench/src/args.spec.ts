// The bench tools' option walker: values, --json, --help, and one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eachOption, numberOption, UsageError } from './args';

test('eachOption hands over --name value pairs and notes --json; errors name the option', () => {
  const seen: string[] = [];
  const r = eachOption(['--rounds', '3', '--json', '--sync', 'quorum_disk'], 'usage: x', (name, v, flag) => seen.push(`${name}=${v} (${flag})`));
  assert.deepEqual(seen, ['rounds=3 (--rounds)', 'sync=quorum_disk (--sync)']);
  assert.equal(r.json, true);
  assert.throws(() => eachOption(['--help'], 'usage: x', () => {}), (e: unknown) => e instanceof UsageError && e.message === 'usage: x');
  assert.throws(() => eachOption(['--rounds'], 'usage: x', () => {}), /--rounds needs a value\nusage: x$/);
  assert.throws(() => eachOption(['rounds', '3'], 'usage: x', () => {}), /unknown option rounds\n/);
});

test('numberOption: positive by default, zero or integers when asked', () => {
  assert.equal(numberOption('--rate', '2.5'), 2.5);
  assert.throws(() => numberOption('--rate', '0'), /--rate: expected a positive number, got '0'$/);
  assert.equal(numberOption('--warmup', '0', { zero: true, what: 'a number of seconds' }), 0);
  assert.throws(() => numberOption('--warmup', 'soon', { zero: true, what: 'a number of seconds' }), /expected a number of seconds, got 'soon'/);
  assert.throws(() => numberOption('--size', '1.5', { integer: true }), /--size: expected a positive integer, got '1\.5'$/);
});
