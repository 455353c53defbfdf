// ActiveMQ's STOMP destination names <-> the broker core's (destinations.ts), per connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StompDestinations, tempOwnerKey } from './destinations';

const mine = new StompDestinations('gw:boot-1');
const theirs = new StompDestinations('gw:boot-2');

// [client writes, broker name, what the same client reads back]
const table: Array<[string, string, string]> = [
  ['/queue/a', '/queue/a', '/queue/a'],
  ['/topic/a.b', '/topic/a.b', '/topic/a.b'],
  ['orders', '/queue/orders', '/queue/orders'],                       // ActiveMQ: no prefix = a queue
  ['/elsewhere/x', '/queue//elsewhere/x', '/queue//elsewhere/x'],     // as ActiveMQ: an unknown prefix is part of a queue name
  ['/temp-queue/r1', '/temp-queue/gw:boot-1/r1', '/temp-queue/r1'],
  ['/temp-topic/ev', '/temp-topic/gw:boot-1/ev', '/temp-topic/ev'],
  ['/temp-queue/a/b', '/temp-queue/gw:boot-1/a/b', '/temp-queue/a/b'],
  ['/remote-temp-queue/gw:boot-2/r1', '/temp-queue/gw:boot-2/r1', '/remote-temp-queue/gw:boot-2/r1'],
  ['/remote-temp-topic/gw:boot-1/ev', '/temp-topic/gw:boot-1/ev', '/temp-topic/ev'], // its own, named the remote way
  ['/queue/a,/topic/b', '/queue/a,/topic/b', '/queue/a,/topic/b'],
  ['/queue/a, b,/temp-queue/r', '/queue/a,/queue/b,/temp-queue/gw:boot-1/r', '/queue/a,/queue/b,/temp-queue/r'],
];

for (const [written, broker, readBack] of table) {
  test(`${written} -> ${broker} -> ${readBack}`, () => {
    assert.equal(mine.toBroker(written), broker);
    assert.equal(mine.toClient(broker), readBack);
  });
}

test('another connection reads a temp destination as /remote-temp-...; sending there reaches the same broker name', () => {
  const replyTo = mine.toBroker('/temp-queue/r1');
  const seen = theirs.toClient(replyTo);
  assert.equal(seen, '/remote-temp-queue/gw:boot-1/r1');
  assert.equal(theirs.toBroker(seen), replyTo);
});

test('a connection id with / is escaped as the broker core escapes it', () => {
  assert.equal(tempOwnerKey('gw/a:b%-1'), 'gw%2Fa:b%25-1');
  const d = new StompDestinations('gw/a:b-1');
  assert.equal(d.toBroker('/temp-queue/x'), '/temp-queue/gw%2Fa:b-1/x');
  assert.equal(d.toClient('/temp-queue/gw%2Fa:b-1/x'), '/temp-queue/x');
});
