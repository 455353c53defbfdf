// Wildcard topic matching: one table (pattern, topic, match?) run three ways — the plain
// matcher, the pattern trie (a publication finding subscriptions) and the topic trie (a
// subscription finding retained messages) — so the three can never disagree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPattern, matchesTopic, patternError, PatternTrie, TopicTrie } from './topic-match';

const table: Array<[pattern: string, topic: string, matches: boolean]> = [
  ['a.b.c', 'a.b.c', true],
  ['a.b.c', 'a.b', false],
  ['a.*.c', 'a.b.c', true],
  ['a.*.c', 'a.c', false],
  ['a.*.c', 'a.b.b.c', false],
  ['a.*', 'a.b', true],
  ['a.*', 'a', false],
  ['a.*', 'a.b.c', false],
  ['*', 'a', true],
  ['*', 'a.b', false],
  ['*.*', 'a.b', true],
  // '>' is the rest: zero segments or more [MQTT-4.7.1-2] ("sport/#" matches "sport")
  ['a.>', 'a', true],
  ['a.>', 'a.b', true],
  ['a.>', 'a.b.c', true],
  ['a.>', 'ab', false],
  ['a.>', 'b.a', false],
  ['a.*.>', 'a.b', true],
  ['a.*.>', 'a', false],
  ['a.*.>', 'a.b.c.d', true],
  ['>', 'a', true],
  ['>', 'a.b.c', true],
  // A segment is a wildcard only when it is exactly '*' or '>'.
  ['a*', 'ab', false],
  ['a*', 'a*', true],
  // The $ rule [MQTT-4.7.2-1]: a pattern starting with a wildcard never matches a $ topic.
  ['>', '$SYS.x', false],
  ['*.x', '$SYS.x', false],
  ['*', '$SYS', false],
  ['$SYS.>', '$SYS.x', true],
  ['$SYS.>', '$SYS', true],
  ['$SYS.*', '$SYS.x', true],
  ['a.>', 'a.$b', true],
  ['a.*', 'a.$b', true],
];

for (const [pattern, topic, expected] of table) {
  test(`${pattern} ${expected ? 'matches' : 'does not match'} ${topic}`, () => {
    assert.equal(matchesTopic(pattern.split('.'), topic.split('.')), expected, 'matchesTopic');

    const patterns = new PatternTrie<string>();
    patterns.set(pattern, pattern);
    patterns.set('unrelated.x', 'unrelated.x');
    assert.deepEqual(patterns.match(topic), expected ? [pattern] : [], 'PatternTrie');

    const topics = new TopicTrie<string>();
    topics.set(topic, topic);
    topics.set('$unrelated.x', '$unrelated.x'); // no pattern of the table matches it
    assert.deepEqual(topics.match(pattern), expected ? [topic] : [], 'TopicTrie');
  });
}

test('PatternTrie: every matching pattern once, and deleting prunes', () => {
  const t = new PatternTrie<string>();
  for (const p of ['a.>', 'a.*', '*.b', '>', 'a.b.>', 'x.y']) t.set(p, p);
  assert.equal(t.size, 6);
  assert.deepEqual(t.match('a.b').sort(), ['*.b', '>', 'a.*', 'a.>', 'a.b.>'].sort());
  t.delete('a.>');
  t.delete('>');
  t.delete('nothing.here');
  assert.equal(t.size, 4);
  assert.deepEqual(t.match('a.b').sort(), ['*.b', 'a.*', 'a.b.>'].sort());
  for (const p of ['a.*', '*.b', 'a.b.>', 'x.y']) t.delete(p);
  assert.equal(t.size, 0);
  assert.deepEqual(t.match('a.b'), []);
});

test('TopicTrie: get/set/delete, values includes $ topics, a pattern reads only its branch', () => {
  const t = new TopicTrie<string>();
  for (const n of ['a', 'a.b', 'a.b.c', 'b.c', '$SYS.x']) t.set(n, n);
  assert.equal(t.size, 5);
  assert.equal(t.get('a.b'), 'a.b');
  assert.equal(t.get('a.x'), undefined);
  assert.deepEqual(t.match('>').sort(), ['a', 'a.b', 'a.b.c', 'b.c']);
  assert.deepEqual(t.values().sort(), ['$SYS.x', 'a', 'a.b', 'a.b.c', 'b.c']);
  assert.deepEqual(t.match('*.c'), ['b.c']);
  assert.equal(t.delete('a.b'), 'a.b');
  assert.equal(t.delete('a.b'), undefined);
  assert.deepEqual(t.match('a.>').sort(), ['a', 'a.b.c']);
  t.set('a.b.c', 'replaced');
  assert.equal(t.size, 4);
  assert.equal(t.get('a.b.c'), 'replaced');
});

test('isPattern / patternError', () => {
  assert.equal(isPattern('a.b'), false);
  assert.equal(isPattern('a*.b>'), false);
  assert.equal(isPattern('a.*'), true);
  assert.equal(isPattern('>'), true);
  assert.equal(patternError('a.>'), null);
  assert.match(patternError('a.>.b')!, /last segment/);
});
