import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthorizationMap, AclSyntaxError, matchesPattern, parseAcl } from './acl';

test('wildcards: * is one segment, > the rest (one segment or more)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['orders', 'orders', true],
    ['orders', 'orders.eu', false],
    ['orders.*', 'orders.eu', true],
    ['orders.*', 'orders.eu.de', false],
    ['orders.*', 'orders', false],
    ['orders.>', 'orders.eu', true],
    ['orders.>', 'orders.eu.de', true],
    ['orders.>', 'orders', false],
    ['>', 'anything.at.all', true],
    ['*.eu.>', 'orders.eu.de.x', true],
    ['*.eu.>', 'orders.us.de', false],
  ];
  for (const [p, n, want] of cases) assert.equal(matchesPattern(p, n), want, `${p} ~ ${n}`);
});

const MAP = `
# kind  pattern     read          write       admin
queue   >           admins        admins      admins
queue   orders.>    shop,admins   shop        -
topic   prices.*    *             feeds       admins
`;

test('the union of every matching entry decides; no match is refused', () => {
  const acl = AuthorizationMap.parse(MAP);
  const shop = { login: 'ann', groups: ['shop'] };
  const admin = { login: 'root', groups: ['admins'] };
  const anon = { login: '', groups: ['anonymous'] };
  assert.equal(acl.can(shop, 'write', '/queue/orders.eu'), true);
  assert.equal(acl.can(shop, 'read', '/queue/orders.eu'), true);
  assert.equal(acl.can(shop, 'admin', '/queue/orders.eu'), false);
  assert.equal(acl.can(admin, 'admin', '/queue/orders.eu'), true, 'queue > grants admins on every queue');
  assert.equal(acl.can(shop, 'write', '/queue/payroll'), false);
  assert.equal(acl.can(anon, 'read', '/topic/prices.eur'), true, '* is everyone');
  assert.equal(acl.can(anon, 'write', '/topic/prices.eur'), false);
  assert.equal(acl.can(admin, 'read', '/topic/other'), false, 'no topic entry matches');
  assert.equal(acl.can(admin, 'read', 'not-a-destination'), false);
  // Cached answers stay right.
  assert.equal(acl.can(shop, 'write', '/queue/orders.eu'), true);
  assert.equal(acl.can(anon, 'write', '/queue/orders.eu'), false);
});

test('a bad line is refused with its line number and what to write', () => {
  assert.throws(() => parseAcl('queue > admins admins', 'acl.txt'), (e: unknown) => e instanceof AclSyntaxError && /acl\.txt:1: expected 5 columns/.test(e.message));
  assert.throws(() => parseAcl('\nqueues > a a a'), /:2: kind must be queue, topic or temp/);
  assert.throws(() => parseAcl('queue a.>.b a a a'), /'>' may only be the last segment/);
  assert.throws(() => parseAcl('queue a..b a a a'), /empty segment/);
  assert.throws(() => parseAcl('queue a a,,b a a'), /empty group name/);
});
