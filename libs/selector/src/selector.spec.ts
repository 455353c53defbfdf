// Evaluation scenarios. Each row is [selector, expected truth] where the truth is T (matches),
// F (does not match, and NOT (selector) matches) or U (UNKNOWN: neither matches).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector, SelectorMessage } from './index';

type Truth = 'T' | 'F' | 'U';

const MSG: SelectorMessage = {
  headers: {
    price: '12.5', qty: '3', name: 'James', flag: 'true', off: 'FALSE', word: 'cheap', empty: '',
    neg: '-4', ws: ' 7 ', pct: '50%', under: 'a_b', dotted: 'a.b*c', ml: 'line1\nline2',
    uni: 'café', emoji: '😀', back: 'x\\y',
    'correlation-id': 'c-1', type: 'order', 'reply-to': '/queue/r', 'content-type': 'text/plain',
  },
  id: 'ID:m-1', priority: 4, timestamp: 1700000000000, expires: 0, persistent: true,
};

function truth(selector: string, m: SelectorMessage = MSG): Truth {
  const yes = compileSelector(selector).matches(m);
  // The newline keeps a trailing -- comment in `selector` from eating the ')'.
  const no = compileSelector(`NOT (${selector}\n)`).matches(m);
  assert.ok(!(yes && no), `${selector}: both it and its negation matched`);
  return yes ? 'T' : no ? 'F' : 'U';
}

function table(name: string, rows: Array<[string, Truth]>, m: SelectorMessage = MSG): void {
  test(name, () => {
    for (const [selector, want] of rows) assert.equal(truth(selector, m), want, selector);
  });
}

table('comparison operators', [
  ["name = 'James'", 'T'], ["name = 'james'", 'F'], ["name <> 'Bob'", 'T'], ["name <> 'James'", 'F'],
  ['qty = 3', 'T'], ['qty <> 3', 'F'], ['qty > 2', 'T'], ['qty > 3', 'F'], ['qty >= 3', 'T'], ['qty >= 4', 'F'],
  ['qty < 4', 'T'], ['qty < 3', 'F'], ['qty <= 3', 'T'], ['qty <= 2', 'F'],
  ['1 = 1.0', 'T'], ['2 > 1', 'T'], ["'a' = 'a'", 'T'], ["'a' <> 'b'", 'T'],
  ['TRUE = TRUE', 'T'], ['TRUE <> FALSE', 'T'], ['(qty = 3) = TRUE', 'T'],
  ["name = ''", 'F'], ["empty = ''", 'T'], ["'it''s' = 'it''s'", 'T'],
]);

// SQL three-valued logic: T, F and U built from comparisons, combined every way.
const ATOM: Record<Truth, string> = { T: '1 = 1', F: '1 = 2', U: 'missing = 1' };
const AND: Record<string, Truth> = { TT: 'T', TF: 'F', TU: 'U', FT: 'F', FF: 'F', FU: 'F', UT: 'U', UF: 'F', UU: 'U' };
const OR: Record<string, Truth> = { TT: 'T', TF: 'T', TU: 'T', FT: 'T', FF: 'F', FU: 'U', UT: 'T', UF: 'U', UU: 'U' };
const NOT: Record<Truth, Truth> = { T: 'F', F: 'T', U: 'U' };

test('three-valued logic: AND, OR, NOT truth tables', () => {
  for (const a of ['T', 'F', 'U'] as Truth[]) {
    assert.equal(truth(`NOT (${ATOM[a]})`), NOT[a], `NOT ${a}`);
    for (const b of ['T', 'F', 'U'] as Truth[]) {
      assert.equal(truth(`(${ATOM[a]}) AND (${ATOM[b]})`), AND[a + b], `${a} AND ${b}`);
      assert.equal(truth(`(${ATOM[a]}) OR (${ATOM[b]})`), OR[a + b], `${a} OR ${b}`);
    }
  }
});

table('NULL handling: an absent header is NULL', [
  ['missing IS NULL', 'T'], ['missing IS NOT NULL', 'F'], ['name IS NULL', 'F'], ['name IS NOT NULL', 'T'],
  ['empty IS NULL', 'F'], ['(missing = 1) IS NULL', 'T'], ['(qty = 1) IS NULL', 'F'],
  ["missing = 'x'", 'U'], ["missing <> 'x'", 'U'], ['missing > 1', 'U'], ['missing + 1 = 2', 'U'], ['-missing = 1', 'U'],
  ["missing IN ('a')", 'U'], ["missing NOT IN ('a')", 'U'], ["missing LIKE '%'", 'U'], ["missing NOT LIKE 'x'", 'U'],
  ['missing BETWEEN 1 AND 2', 'U'], ['missing NOT BETWEEN 1 AND 2', 'U'], ['missing', 'U'],
  ['qty = NULL', 'U'], ['NULL IS NULL', 'T'], ['missing = missing', 'U'],
  ['constructor IS NULL', 'T'], ['toString IS NULL', 'T'], ['__proto__ IS NULL', 'T'],
]);

table('LIKE with % _ and ESCAPE', [
  ["name LIKE 'J%'", 'T'], ["name LIKE 'j%'", 'F'], ["name LIKE '%es'", 'T'], ["name LIKE '%am%'", 'T'],
  ["name LIKE 'J_mes'", 'T'], ["name LIKE '_____'", 'T'], ["name LIKE '____'", 'F'], ["name LIKE '%'", 'T'],
  ["name LIKE 'James'", 'T'], ["name LIKE 'Jam'", 'F'], ["name NOT LIKE 'B%'", 'T'], ["name NOT LIKE 'J%'", 'F'],
  ["empty LIKE '%'", 'T'], ["empty LIKE '_'", 'F'],
  ["pct LIKE '50\\%' ESCAPE '\\'", 'T'], ["pct LIKE '50!%' ESCAPE '!'", 'T'], ["name LIKE 'Jam!%' ESCAPE '!'", 'F'],
  ["under LIKE 'a!_b' ESCAPE '!'", 'T'], ["name LIKE 'J!_mes' ESCAPE '!'", 'F'], ["back LIKE 'x!\\y' ESCAPE '!'", 'T'],
  ["pct LIKE '50!!' ESCAPE '!'", 'F'], ["under LIKE 'a__b' ESCAPE '_'", 'T'], ["under LIKE 'a__' ESCAPE '_'", 'F'],
  ["dotted LIKE 'a.b*c'", 'T'], ["dotted LIKE 'a_b_c'", 'T'], ["type LIKE 'o.der'", 'F'], ["name LIKE '(J)%'", 'F'],
  ["ml LIKE 'line1%'", 'T'], ["ml LIKE '%line2'", 'T'], ["ml LIKE 'line1_line2'", 'T'],
  ["uni LIKE 'caf_'", 'T'], ["emoji LIKE '_'", 'T'],
  ["JMSPriority LIKE '4'", 'U'], // a number is not a string: unlike types are UNKNOWN
]);

table('numeric coercion of string headers', [
  ['price > 10', 'T'], ['price = 12.5', 'T'], ['price = 12.50', 'T'], ['price < 12.5', 'F'],
  ["price = '12.5'", 'T'], ["price = '12.50'", 'F'], // string = string stays a string comparison
  ['qty * 2 = 6', 'T'], ['qty + price = 15.5', 'T'], ['qty / 2 = 1.5', 'T'], ['qty % 2 = 1', 'T'], ['-qty = -3', 'T'],
  ['+qty = 3', 'T'], ['neg < 0', 'T'], ['neg = -4', 'T'], ['ws = 7', 'T'], ["'5' = 5", 'T'],
  ['price > qty', 'T'], ['qty < price', 'T'], // ordering two headers compares their numbers
  ['word > 10', 'U'], ['word = 10', 'U'], ['word <> 10', 'U'], ['word + 1 = 2', 'U'], ['empty = 0', 'U'],
  ['qty / 0 = 1', 'U'], ['qty % 0 = 1', 'U'],
  ['0x10 = 16', 'T'], ['0X1f = 31', 'T'], ['010 = 8', 'T'], ['10L = 10', 'T'], ['1e3 = 1000', 'T'], ['1.5E-1 = 0.15', 'T'],
  ['.5 = 0.5', 'T'], ['1. = 1', 'T'], ['0 = 0', 'T'],
]);

table('boolean coercion', [
  ['flag = TRUE', 'T'], ['flag = FALSE', 'F'], ['off = FALSE', 'T'], ['off <> TRUE', 'T'], ["flag = 'true'", 'T'],
  ['flag', 'T'], ['off', 'F'], ['NOT flag', 'F'], ['NOT off', 'T'], ['flag AND qty = 3', 'T'],
  ['word = TRUE', 'U'], ['word', 'U'], ['qty', 'U'], ['TRUE = 1', 'U'], ['TRUE', 'T'], ['FALSE', 'F'],
]);

table('BETWEEN is inclusive', [
  ['qty BETWEEN 1 AND 3', 'T'], ['qty BETWEEN 3 AND 5', 'T'], ['qty BETWEEN 4 AND 5', 'F'], ['qty BETWEEN 5 AND 1', 'F'],
  ['qty NOT BETWEEN 4 AND 5', 'T'], ['qty NOT BETWEEN 1 AND 5', 'F'], ['price BETWEEN 12 AND 13', 'T'],
  ['JMSPriority BETWEEN 0 AND 9', 'T'], ['qty BETWEEN -1 AND +3', 'T'], ['qty BETWEEN 1 + 1 AND 2 * 2', 'T'],
  ['word BETWEEN 1 AND 2', 'U'], ['qty BETWEEN 5 AND missing', 'F'], ['qty BETWEEN 1 AND missing', 'U'],
]);

table('IN lists', [
  ["name IN ('James', 'Bob')", 'T'], ["name IN ('bob')", 'F'], ["name NOT IN ('bob')", 'T'], ["name NOT IN ('James')", 'F'],
  ["qty IN ('3')", 'T'], ['qty IN (1, 2, 3)', 'T'], ['qty IN (1, 2)', 'F'], ['price IN (12.5)', 'T'], ['neg IN (-4)', 'T'],
  ['word IN (1, 2)', 'U'], ["word IN ('x', 1)", 'U'], ["word IN ('cheap', 1)", 'T'],
  ['JMSPriority IN (4, 5)', 'T'], ["JMSPriority IN ('4')", 'T'], ["JMSPriority IN ('x')", 'U'],
]);

table('JMS header identifiers', [
  ["JMSMessageID = 'ID:m-1'", 'T'], ['JMSPriority = 4', 'T'], ['JMSPriority > 3', 'T'],
  ['JMSTimestamp = 1700000000000', 'T'], ['JMSTimestamp > 0', 'T'], ['JMSExpiration = 0', 'T'],
  ["JMSDeliveryMode = 'PERSISTENT'", 'T'], ["JMSDeliveryMode = 'NON_PERSISTENT'", 'F'],
  ["JMSCorrelationID = 'c-1'", 'T'], ["JMSType = 'order'", 'T'], ["JMSReplyTo = '/queue/r'", 'T'],
  ['jmspriority IS NULL', 'T'], // identifiers are case-sensitive: this is an (absent) header
  ['Name IS NULL', 'T'], ["\"content-type\" = 'text/plain'", 'T'], ['"say ""hi""" IS NULL', 'T'],
]);

table('JMS header identifiers on a bare non-persistent message', [
  ["JMSDeliveryMode = 'NON_PERSISTENT'", 'T'], ['JMSCorrelationID IS NULL', 'T'], ['JMSType IS NULL', 'T'],
  ['JMSReplyTo IS NULL', 'T'], ['JMSPriority = 0', 'T'],
], { headers: {}, id: 'x', priority: 0, timestamp: 0, expires: 0, persistent: false });

table('precedence: NOT > AND > OR, * / > + -', [
  ['TRUE OR TRUE AND FALSE', 'T'], ['FALSE AND FALSE OR TRUE', 'T'], ['(TRUE OR TRUE) AND FALSE', 'F'],
  ['NOT FALSE AND FALSE', 'F'], ['NOT TRUE OR TRUE', 'T'], ['NOT (TRUE OR TRUE)', 'F'], ['NOT NOT TRUE', 'T'],
  ['NOT qty = 3', 'F'], ['NOT qty = 4 AND NOT qty = 5', 'T'], // NOT applies to the whole comparison (SQL)
  ['2 + 3 * 4 = 14', 'T'], ['(2 + 3) * 4 = 20', 'T'], ['2 * 3 + 4 = 10', 'T'], ['10 - 2 * 3 = 4', 'T'],
  ['10 - 4 - 3 = 3', 'T'], ['24 / 4 / 2 = 3', 'T'], ['-2 * -3 = 6', 'T'], ['- -2 = 2', 'T'], ['7 % 4 * 2 = 6', 'T'],
  ['1 + 2 < 4 AND 2 * 3 = 6', 'T'], ['qty + 1 > 3 = TRUE', 'T'],
]);

table('keywords are case-insensitive; comments are blanks', [
  ["name like 'J%' and not (qty between 5 and 6) or false", 'T'], ["name In ('James')", 'T'], ['flag = true', 'T'],
  ['missing is null', 'T'], ['qty Is Not Null', 'T'], ["name NoT lIkE 'x%' EsCaPe '!'", 'T'],
  ['/* c */ qty = 3 -- trailing', 'T'], ['qty = 3 /* and */ AND name IS NOT NULL', 'T'], ['qty = -- c\n3', 'T'],
  ['qty=3 AND(price>1)', 'T'], ["(qty)=(3)AND'a'='a'", 'T'], ['\tqty\n=\r\n3 ', 'T'],
]);

test('an empty selector matches everything', () => {
  for (const text of ['', '   ', '\n\t', '-- nothing', '/* nothing */']) {
    const s = compileSelector(text);
    assert.equal(s.text, text);
    assert.equal(s.matches(MSG), true);
    assert.equal(s.matches({ headers: {}, id: '', priority: 0, timestamp: 0, expires: 0, persistent: false }), true);
  }
});

test('a compiled selector keeps its text and is reusable across messages', () => {
  const s = compileSelector("type = 'order' AND price > 10");
  assert.equal(s.text, "type = 'order' AND price > 10");
  const mk = (price: string): SelectorMessage => ({ ...MSG, headers: { type: 'order', price } });
  assert.deepEqual(['5', '10', '10.01', 'x', '11'].map((p) => s.matches(mk(p))), [false, false, true, false, true]);
});

test('matching is cheap: 200k evaluations of a mixed selector well under a second', () => {
  const s = compileSelector("type = 'order' AND price BETWEEN 10 AND 20 AND name LIKE 'J%' AND qty IN ('1','2','3')");
  const start = process.hrtime.bigint();
  let n = 0;
  for (let i = 0; i < 200_000; i++) if (s.matches(MSG)) n++;
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.equal(n, 200_000);
  assert.ok(ms < 1000, `took ${ms} ms`);
});
