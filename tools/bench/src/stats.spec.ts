import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, median, summarize, firstReceiptAfterFailover } from './stats';

describe('bench stats', () => {
  it('percentile is nearest-rank; median averages the middle pair', () => {
    const v = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    assert.equal(percentile(v, 90), 9);
    assert.equal(percentile(v, 100), 10);
    assert.equal(percentile(v, 0), 1);
    assert.equal(median(v), 5.5);
    assert.equal(median([3, 1, 2]), 2);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.deepEqual(summarize([2, 4]), { n: 2, median: 3, p90: 4, max: 4, min: 2, mean: 3 });
  });

  it('attributes receipts right after the kill to the old master, the first after a silence to the new one', () => {
    // Producer receipts every 2 ms; kill at 100; two stragglers at 101, 103; new master at 850.
    const r = [90, 92, 94, 96, 98, 100, 101, 103, 850, 852];
    assert.deepEqual(firstReceiptAfterFailover(r, 100, 50), { at: 850, stragglers: 2 });
    // No straggler.
    assert.deepEqual(firstReceiptAfterFailover([90, 98, 700], 99, 50), { at: 700, stragglers: 0 });
    // Nothing from the new master yet.
    assert.equal(firstReceiptAfterFailover([90, 98, 101], 99, 50), undefined);
    // A producer that was quiet long before the kill: the first receipt after the kill is the new master's... once beyond the gap.
    assert.deepEqual(firstReceiptAfterFailover([10, 400], 300, 50), { at: 400, stragglers: 0 });
  });
});
