import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bodyFields, bodyLine, count, ms, plural, rate, table, truncate } from './format';
import { browseTable, destinationsTable } from './admin';
import type { BrowseItem } from '@hawser/proto';

describe('table', () => {
  it('aligns columns, right-aligns numbers on request, shows - for empty cells', () => {
    const text = table([
      { name: '/queue/a', depth: 5, note: '' },
      { name: '/queue/longer', depth: 12345, note: 'x y\nz' },
    ], [
      { title: 'NAME', value: (r) => r.name },
      { title: 'DEPTH', value: (r) => r.depth, align: 'right' },
      { title: 'NOTE', value: (r) => r.note },
    ]);
    assert.equal(text, [
      'NAME           DEPTH  NOTE',
      '/queue/a           5  -',
      '/queue/longer  12345  x y z',
      '',
    ].join('\n'));
  });

  it('prints only the header for no rows; fractions without trailing zeros', () => {
    assert.equal(table([], [{ title: 'A', value: () => 1 }]), 'A\n');
    assert.equal(table([{ v: 0.5 }, { v: 1.25 }], [{ title: 'V', value: (r) => r.v }]), 'V\n0.5\n1.25\n');
  });

  it('destinations table', () => {
    const text = destinationsTable({ destinations: [{ name: '/queue/a', depth: 3, inflight: 1, consumers: 2, enqueued: 10, dequeued: 7, localConsumers: 2, networkConsumers: 0 }] });
    assert.equal(text, 'DESTINATION  DEPTH  INFLIGHT  CONSUMERS  ENQUEUED  DEQUEUED\n/queue/a         3         1          2        10         7\n');
  });

  it('browse table truncates long bodies and escapes newlines', () => {
    const item: BrowseItem = {
      id: 'm1', destination: '/queue/a', headers: {}, body: Buffer.from(`a\nb${'x'.repeat(100)}`), persistent: true,
      priority: 4, expires: 0, timestamp: Date.UTC(2024, 0, 2, 3, 4, 5), deliveryCount: 1,
    };
    const [head, row] = browseTable([item]).split('\n');
    assert.match(head!, /^ID {2}PRI {2}PERSISTENT {2}DELIVERIES {2}TIMESTAMP {17}BODY$/);
    assert.match(row!, /^m1 {4}4 {2}yes {18}1 {2}2024-01-02T03:04:05\.000Z {2}a\\nbx+…$/);
    assert.equal(row!.split('  ').pop()!.length, 60);
  });
});

describe('bodies', () => {
  it('JSON bodies: text when UTF-8, base64 otherwise', () => {
    assert.deepEqual(bodyFields(Buffer.from('héllo')), { body: 'héllo', bodyEncoding: 'utf8' });
    assert.deepEqual(bodyFields(Buffer.from([0xff, 0x00])), { body: '/wA=', bodyEncoding: 'base64' });
  });

  it('text lines: one message per line', () => {
    assert.equal(bodyLine(Buffer.from('a\nb\r\nc\\d')), 'a\\nb\\r\\nc\\\\d');
    assert.equal(bodyLine(Buffer.from([0xff])), 'base64:/w==');
  });
});

describe('numbers', () => {
  it('formats counts, rates and milliseconds for reading', () => {
    assert.equal(count(1234567.4), '1,234,567');
    assert.equal(rate(12345.6), '12,346');
    assert.equal(rate(123.45), '123.5');
    assert.equal(rate(1.234), '1.23');
    assert.equal(rate(Infinity), '-');
    assert.equal(ms(0.4123), '0.412 ms');
    assert.equal(ms(12.34), '12.3 ms');
    assert.equal(ms(1234.5), '1,235 ms');
    assert.equal(ms(null), '-');
    assert.equal(plural(1, 'message'), '1 message');
    assert.equal(plural(0, 'message'), '0 messages');
    assert.equal(truncate('abcdef', 4), 'abc…');
    assert.equal(truncate('abc', 4), 'abc');
  });
});
