// What a selector may cost: length, nesting depth and IN-list size are bounded at compile time,
// and a selector over a bound is refused with a SelectorError naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector, DEFAULT_SELECTOR_LIMITS, SelectorError, type SelectorLimitName } from './index';

const MSG = { headers: { a: '1', x: '7' }, id: 'ID:1', priority: 4, timestamp: 0, expires: 0, persistent: true };

function refused(selector: string, limit: SelectorLimitName, key: string, limits = {}): SelectorError {
  try {
    compileSelector(selector, limits);
  } catch (e) {
    assert.ok(e instanceof SelectorError, `${selector.slice(0, 40)}: ${String(e)}`);
    assert.equal(e.limit, limit);
    assert.equal(e.code, 'INVALID_SELECTOR');
    assert.match(e.message, new RegExp(key.replace('.', '\\.')));
    assert.ok(e.message.length < 600, `a short message, got ${e.message.length} characters`);
    return e;
  }
  assert.fail(`${selector.slice(0, 40)}... compiled`);
}

test('the defaults: 4096 characters, 64 levels, 1024 IN members', () => {
  assert.deepEqual({ ...DEFAULT_SELECTOR_LIMITS }, { maxLength: 4096, maxDepth: 64, maxInList: 1024 });
});

test('length: at the limit compiles, one over is refused before it is read', () => {
  const pad = (n: number) => `a = 1 ${' '.repeat(n - 6)}`;
  assert.equal(compileSelector(pad(4096)).matches(MSG), true);
  const e = refused(pad(4097), 'maxLength', 'broker.selectorMaxLength');
  assert.equal(e.position, 4096);
  assert.match(e.detail, /the selector is 4097 characters long; the limit is 4096/);
  // A megabyte of garbage is refused for its length, not tokenized.
  refused('#'.repeat(1 << 20), 'maxLength', 'broker.selectorMaxLength');
  // Configurable.
  refused('a = 1', 'maxLength', 'broker.selectorMaxLength', { maxLength: 4 });
});

test('depth: parentheses, NOT and signs nest up to the limit', () => {
  const parens = (n: number) => `${'('.repeat(n)}a = 1${')'.repeat(n)}`;
  assert.equal(compileSelector(parens(63)).matches(MSG), true);
  const e = refused(parens(65), 'maxDepth', 'broker.selectorMaxDepth');
  assert.equal(e.position, 64); // the '(' that goes one level too deep
  assert.match(e.detail, /nests more than 64 levels deep/);
  assert.equal(compileSelector(`${'NOT '.repeat(62)}a = 1`).matches(MSG), true);
  refused(`${'NOT '.repeat(64)}a = 1`, 'maxDepth', 'broker.selectorMaxDepth');
  refused(`${'- '.repeat(65)}x = 7`, 'maxDepth', 'broker.selectorMaxDepth');
  // Thousands of '(' fit in 4096 characters: refused as too deep, not a stack overflow.
  refused(`${'('.repeat(4000)}a = 1`, 'maxDepth', 'broker.selectorMaxDepth');
  refused(`${'('.repeat(100_000)}`, 'maxDepth', 'broker.selectorMaxDepth', { maxLength: 1 << 20 });
  refused(parens(3), 'maxDepth', 'broker.selectorMaxDepth', { maxDepth: 2 });
});

test('depth: a long + chain is deep (its closures nest), a long OR or AND chain is not', () => {
  // `x + x + ... + x` nests left: 70 terms are 70 levels.
  refused(`${Array(70).fill('x').join(' + ')} > 0`, 'maxDepth', 'broker.selectorMaxDepth');
  assert.equal(compileSelector(`${Array(40).fill('x').join(' + ')} = 280`).matches(MSG), true);
  // 300 ORs: one level over its operands.
  const ors = Array.from({ length: 300 }, (_, i) => `x = ${i}`).join(' OR ');
  assert.ok(ors.length <= 4096);
  assert.equal(compileSelector(ors).matches(MSG), true);
  assert.equal(compileSelector(ors.replace('x = 7', 'x = -1')).matches(MSG), false);
  const ands = Array.from({ length: 400 }, () => 'a = 1').join(' AND ');
  assert.equal(compileSelector(ands).matches(MSG), true);
  assert.equal(compileSelector(`${ands} AND a = 2`).matches(MSG), false);
});

test('IN lists: up to the limit', () => {
  const list = (n: number) => `x IN (${Array.from({ length: n }, (_, i) => `'${i}'`).join(',')})`;
  assert.equal(compileSelector(list(1024), { maxLength: 1 << 16 }).matches(MSG), true);
  const e = refused(list(1025), 'maxInList', 'broker.selectorMaxInList', { maxLength: 1 << 16 });
  assert.match(e.detail, /the IN list has more than 1024 members; the limit is 1024/);
  refused("x IN ('1', '2', '3')", 'maxInList', 'broker.selectorMaxInList', { maxInList: 2 });
  assert.equal(compileSelector("x IN ('1', '7')", { maxInList: 2 }).matches(MSG), true);
});

test('an error quotes at most the first 200 characters of the selector', () => {
  const long = `a = 1 AND ${'b = 2 AND '.repeat(60)}c = `;
  try {
    compileSelector(long);
    assert.fail('compiled');
  } catch (e) {
    assert.ok(e instanceof SelectorError);
    assert.equal(e.selector, long);
    assert.ok(e.message.includes(`${long.slice(0, 200)}... (${long.length} characters)`), e.message);
    assert.ok(!e.message.includes(long));
  }
});
