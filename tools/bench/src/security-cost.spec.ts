import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, table } from './security-cost';

test('security-cost: options, and a table of medians with the spread and the secure/plain ratio', () => {
  const o = parseArgs(['--rounds', '2', '--duration', '5', '--homes', 'embedded']);
  assert.deepEqual([o.rounds, o.duration, o.rate, o.homes], [2, 5, 500, ['embedded']]);
  assert.throws(() => parseArgs(['--homes', 'moon']), /--homes: unknown 'moon'/);
  const runs = [
    { system: 'embedded', row: 'paced', msgPerSec: 500, p99Ms: 2, cpuMsPerMessage: 0.6, messages: 5000 },
    { system: 'embedded', row: 'paced', msgPerSec: 500, p99Ms: 2, cpuMsPerMessage: 0.8, messages: 5000 },
    { system: 'embedded_secure', row: 'paced', msgPerSec: 500, p99Ms: 3, cpuMsPerMessage: 0.9, messages: 5000 },
    { system: 'embedded_secure', row: 'paced', msgPerSec: 500, p99Ms: 3, cpuMsPerMessage: 0.9, messages: 5000 },
    { system: 'embedded', row: 'w64', msgPerSec: 8000, p99Ms: 20, cpuMsPerMessage: 0.1, messages: 40000 },
    { system: 'embedded_secure', row: 'w64', msgPerSec: 6000, p99Ms: 30, cpuMsPerMessage: 0.1, messages: 30000 },
  ];
  const t = table(runs, o);
  assert.match(t, /\| embedded \| window 64 at a fixed rate \(CPU per message\) \| 0\.60 \(0\.60-0\.80\) ms CPU\/msg \| 0\.90 \(0\.90-0\.90\) ms CPU\/msg \| 1\.50x \|/);
  assert.match(t, /\| embedded \| window 64, unpaced \| 8,000 \(8,000-8,000\) msg\/s \| 6,000 \(6,000-6,000\) msg\/s \| 0\.75x \|/);
  assert.match(t, /\| embedded \| receipt per message, unpaced \| - \| - \| -x \|/);
});
