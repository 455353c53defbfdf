// An AppendEntries carries at most maxBatchBytes of entry data (at least one entry): large
// messages (64 MiB) must not make one gRPC message of maxBatch of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicaLog } from './log';

const entry = (position: number, bytes: number) => ({ epoch: 1, position, data: new Uint8Array(bytes) });

test('slice stops at maxBytes, but always takes one entry', () => {
  const log = new ReplicaLog(0, 0, [entry(1, 10), entry(2, 10), entry(3, 100), entry(4, 1)]);
  assert.deepEqual(log.slice(1, 4, 64, 25).map((e) => e.position), [1, 2]);
  assert.deepEqual(log.slice(3, 4, 64, 25).map((e) => e.position), [3], 'one entry larger than the cap still goes');
  assert.deepEqual(log.slice(1, 4, 64).map((e) => e.position), [1, 2, 3, 4], 'no cap: as before');
  assert.deepEqual(log.slice(1, 4, 2, 1000).map((e) => e.position), [1, 2], 'the count cap still holds');
});
