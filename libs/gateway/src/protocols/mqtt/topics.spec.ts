// The MQTT topic <-> destination mapping (ActiveMQ's), as a table run both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterDestination, MalformedUtf8Error, matches, publishDestination, topicOf, TopicError } from './topics';

const NAMES: Array<[string, string]> = [
  ['a/b/c', '/topic/a.b.c'],
  ['a', '/topic/a'],
  ['sensors/room.1/temp', '/topic/sensors.room/1.temp'], // a `.` inside a level stays distinct
  ['/a', '/topic/.a'],                                   // a leading empty level is kept
  ['$SYS/broker', '/topic/$SYS.broker'],
  ['a//b', '/topic/a..b'],
  ['ü/ß', '/topic/ü.ß'],
];

test('topic names map to /topic/ destinations and back (one namespace with STOMP)', () => {
  for (const [topic, dest] of NAMES) {
    assert.equal(publishDestination(topic), dest, topic);
    assert.equal(topicOf(dest), topic, dest);
  }
});

const FILTERS: Array<[string, string]> = [
  ['a/+/c', '/topic/a.*.c'],
  ['a/#', '/topic/a.>'],
  ['#', '/topic/>'],
  ['+', '/topic/*'],
  ['+/+/#', '/topic/*.*.>'],
  ['a/b', '/topic/a.b'],
];

test('filters: + is *, # is >', () => {
  for (const [filter, dest] of FILTERS) {
    assert.equal(filterDestination(filter), dest, filter);
    assert.equal(topicOf(dest), filter, dest);
  }
});

test('bad names and filters are refused with the spec clause', () => {
  for (const bad of ['', 'a/+', 'a/#', '#', 'a\u0000b']) assert.throws(() => publishDestination(bad), TopicError, JSON.stringify(bad));
  for (const bad of ['', 'a/#/b', 'a#', 'a/b+', '+a/b', '##']) assert.throws(() => filterDestination(bad), TopicError, JSON.stringify(bad));
  assert.throws(() => publishDestination('a/+'), /MQTT-3\.3\.2-2/);
  assert.throws(() => filterDestination('a/#/b'), /MQTT-4\.7\.1-2/);
});

test('a topic that was not well-formed UTF-8 (decoded with U+FFFD) is refused as malformed [MQTT-1.5.3-1]', () => {
  // What mqtt-packet hands over for the bytes 61 2f ff 62 and for an encoded surrogate (ed a0 80).
  for (const bytes of [[0x61, 0x2f, 0xff, 0x62], [0x61, 0xed, 0xa0, 0x80]]) {
    const topic = Buffer.from(bytes).toString('utf8');
    assert.throws(() => publishDestination(topic), MalformedUtf8Error);
    assert.throws(() => filterDestination(topic), MalformedUtf8Error);
  }
  assert.equal(publishDestination('caf\u00e9/\u{1F600}'), '/topic/caf\u00e9.\u{1F600}', 'well-formed multi-byte UTF-8 passes');
});

test('a queue delivered to an MQTT client shows as queue/<name>', () => {
  assert.equal(topicOf('/queue/orders.eu'), 'queue/orders/eu');
});

test('filter matching (section 4.7): + one level, # the rest and the parent, no $ topic at a wildcard first level', () => {
  const rows: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true], ['a/+', 'a/b', true], ['a/+', 'a/b/c', false], ['a/#', 'a', true], ['a/#', 'a/b/c', true],
    ['#', 'a/b', true], ['+/+', 'a/b', true], ['+', '/a', false], ['+/a', '/a', true], ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false], ['$SYS/#', '$SYS/x', true], ['a/b', 'a/c', false], ['a/+/c', 'a//c', true],
  ];
  for (const [f, t, want] of rows) assert.equal(matches(f, t), want, `${f} ~ ${t}`);
});
