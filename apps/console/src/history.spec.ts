import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History, Rates, Ring } from './history';

test('a ring keeps the last `capacity` points, oldest first', () => {
  const r = new Ring(3);
  assert.equal(r.last(), undefined);
  for (let i = 1; i <= 5; i++) r.push(i * 1000, i);
  assert.equal(r.length, 3);
  assert.deepEqual(r.points(), [[3000, 3], [4000, 4], [5000, 5]]);
  assert.deepEqual(r.points(3500), [[4000, 4], [5000, 5]]);
  assert.deepEqual(r.last(), [5000, 5]);
});

test('history: series by name and prefix; a series not fed for staleMs is dropped', () => {
  const h = new History(10, 5_000);
  h.record('group/g1/depth', 1000, 3);
  h.record('group/g1/depth', 2000, NaN);
  h.record('lag/g1/s2', 2000, 7);
  assert.deepEqual(h.snapshot('group/'), { 'group/g1/depth': [[1000, 3], [2000, 0]] });
  assert.deepEqual(h.names(), ['group/g1/depth', 'lag/g1/s2']);
  h.record('lag/g1/s2', 8000, 1);
  h.prune(8000);
  assert.deepEqual(h.names(), ['lag/g1/s2']);
});

test('rates: per second between samples; a counter that went down (a restart) starts over', () => {
  const r = new Rates();
  assert.equal(r.rate('k', 1000, 10), undefined);
  assert.equal(r.rate('k', 3000, 30), 10);
  assert.equal(r.rate('k', 4000, 5), 5);
  assert.equal(r.rate('k', 4000, 9), undefined, 'no time passed');
  r.forget('k');
  assert.equal(r.rate('k', 5000, 9), undefined);
});
