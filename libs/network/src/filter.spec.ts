import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter, FilterError } from './filter';

// pattern, destination, matches?
const TABLE: Array<[string, string, boolean]> = [
  ['/queue/orders', '/queue/orders', true],
  ['/queue/orders', '/topic/orders', false],
  ['orders', '/topic/orders', true],
  ['orders', '/queue/orders', true],
  ['/queue/orders.*', '/queue/orders.eu', true],
  ['/queue/orders.*', '/queue/orders', false],
  ['/queue/orders.*', '/queue/orders.eu.fr', false],
  ['/queue/orders.>', '/queue/orders', true], // ActiveMQ PrefixDestinationFilter: A matches A.>
  ['/queue/orders.>', '/queue/orders.eu', true],
  ['/queue/orders.>', '/queue/orders.eu.fr', true],
  ['/queue/orders.>', '/queue/ordersx', false],
  ['/queue/*.eu', '/queue/orders.eu', true],
  ['/queue/*.eu', '/queue/orders.us', false],
  ['>', '/topic/anything.at.all', true],
  ['/topic/>', '/queue/x', false],
  ['*', '/queue/a', true],
  ['*', '/queue/a.b', false],
  ['/queue/orders', 'durable:c:n', false],
];

for (const [pattern, dest, want] of TABLE) {
  test(`filter ${pattern} ${want ? 'matches' : 'does not match'} ${dest}`, () => {
    assert.equal(compileFilter(pattern).matches(dest), want);
  });
}

test('bad patterns are named errors', () => {
  for (const p of ['', '/queue/a..b', '/queue/a.>.b', '/temp-queue/x', 'a.']) {
    assert.throws(() => compileFilter(p), (e: unknown) => e instanceof FilterError && e.code === 'INVALID_DESTINATION_FILTER', p);
  }
});

test('concrete vs wildcard', () => {
  assert.equal(compileFilter('/queue/a.b').concrete, true);
  assert.equal(compileFilter('/queue/a.*').concrete, false);
  assert.equal(compileFilter('a.>').kind, null);
});
