// floor.js: options, the frame codec, and short real runs of both transports (four processes
// on loopback, ended by the run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frame, frameReader, parseArgs, run, text } from './floor';

test('options: defaults and one-line errors', () => {
  const d = parseArgs([]);
  assert.deepEqual([d.rate, d.duration, d.warmup, d.window, d.transport, d.work, d.heapObjects, d.json], [6400, 8, 3, 64, 'grpc', [0, 0, 0], 0, false]);
  const o = parseArgs(['--rate', '500', '--transport', 'tcp', '--work', '50,20,25', '--heap-objects', '1000', '--warmup', '0', '--json']);
  assert.deepEqual([o.rate, o.transport, o.work, o.heapObjects, o.warmup, o.json], [500, 'tcp', [50, 20, 25], 1000, 0, true]);
  assert.throws(() => parseArgs(['--transport', 'udp']), /--transport: unknown 'udp'/);
  assert.throws(() => parseArgs(['--work', '1,2']), /--work: expected three numbers/);
  assert.throws(() => parseArgs(['--rate', '1.5']), /--rate: expected a rate in msg\/s/);
  assert.throws(() => parseArgs(['--heap-objects', '-1']), /--heap-objects: expected a number of objects/);
  assert.throws(() => parseArgs(['--systems', 'x']), /unknown option --systems/);
});

test('frames: what is written is read back whole, however the bytes are cut', () => {
  const frames = [frame(1, Buffer.from([0, 0, 0, 7]), Buffer.alloc(1024, 0x78)), frame(2, Buffer.from([0, 0, 0, 7])), frame(6, Buffer.alloc(0))];
  const bytes = Buffer.concat(frames);
  for (const cut of [1, 3, 5, 100, bytes.length]) {
    const got: Array<[number, number]> = [];
    const read = frameReader((t, p) => got.push([t, p.length]));
    for (let i = 0; i < bytes.length; i += cut) read(bytes.subarray(i, i + cut));
    assert.deepEqual(got, [[1, 1028], [2, 4], [6, 0]], `cut every ${cut} bytes`);
  }
});

for (const transport of ['tcp', 'grpc'] as const) {
  test(`a short run over ${transport}: every message receipted and delivered, figures for all four processes`, { timeout: 60_000 }, async () => {
    const r = await run({ ...parseArgs(['--transport', transport, '--rate', '400', '--duration', '1', '--warmup', '0', '--heap-objects', '1000']) });
    assert.equal(r.lost, 0);
    assert.ok(r.measured >= 300, `${r.measured} measured`);
    assert.ok(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.max, JSON.stringify(r));
    assert.deepEqual(Object.keys(r.cpuUsPerMessage).sort(), ['client', 'master', 'slave1', 'slave2']);
    assert.match(text(r), new RegExp(`^floor, ${transport}, 400 msg/s, window 64, work 0,0,0 µs, 1000 held objects: send->receipt p50 `));
  });
}
