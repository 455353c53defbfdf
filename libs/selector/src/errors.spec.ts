// Every rejected selector: [selector, position, detail]. The message is always
// `invalid selector at position <position>: <detail> in "<selector>"`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector, SelectorError } from './index';

const CASES: Array<[string, number, string]> = [
  // lexical
  ["'abc", 0, "unterminated string (missing closing ')"],
  ["name = 'it''s", 7, "unterminated string (missing closing ')"],
  ['"content-type = 1', 0, 'unterminated quoted identifier (missing closing ")'],
  ['"" = 1', 0, 'empty quoted identifier'],
  ['a = 1 /* x', 6, "unterminated comment (missing '*/')"],
  ['a != 1', 2, "unknown operator '!=' (use '<>')"],
  ['a == 1', 2, "unknown operator '==' (use '=')"],
  ['a => 1', 2, "unknown operator '=>' (use '>=')"],
  ['a =< 1', 2, "unknown operator '=<' (use '<=')"],
  ['a = 1 && b = 2', 6, "unknown operator '&&' (use AND)"],
  ['a = 1 || b = 2', 6, "unknown operator '||' (use OR)"],
  ['!a', 0, "unknown operator '!' (use NOT)"],
  ['a # 1', 2, "unexpected character '#'"],
  ['a = 1;', 5, "unexpected character ';'"],
  ['09 = 9', 0, "malformed number '09' (a leading 0 means octal)"],
  ['1.2.3 = 1', 0, "malformed number '1.2.3'"],
  ['a = 12abc', 4, "malformed number '12abc'"],
  ['0x = 1', 0, "malformed number '0x'"],
  ['qty=3AND b', 4, "malformed number '3AND'"],
  ['1e = 1', 0, "malformed number '1e'"],
  // structure
  ['price = ', 8, "expected a value after '='"],
  ['a AND', 5, "expected a value after 'AND'"],
  ['a = 1 OR', 8, "expected a value after 'OR'"],
  ['NOT', 3, "expected a value after 'NOT'"],
  ['-', 1, "expected a value after '-'"],
  ['a = NOT b', 4, "expected a value after '=', got 'NOT'"],
  ['a = = 1', 4, "expected a value after '=', got '='"],
  ['a < > 1', 4, "expected a value after '<', got '>'"],
  ['()', 1, "expected a value after '(', got ')'"],
  ['AND', 0, "expected a condition, got 'AND'"],
  [')', 0, "expected a condition, got ')'"],
  ['(a = 1', 6, "missing ')' to close '(' at position 0"],
  ['((a = 1)', 8, "missing ')' to close '(' at position 0"],
  ['(a = 1 b', 7, "missing ')' to close '(' at position 0, got identifier 'b'"],
  ['a = 1)', 5, "unexpected ')' with no matching '('"],
  ['a = 1 b', 6, "unexpected identifier 'b' after a complete expression"],
  ['a = 1 2', 6, 'unexpected number 2 after a complete expression'],
  ["a = 'x' 'y'", 8, "unexpected string 'y' after a complete expression"],
  ['a NOT 5', 6, 'expected LIKE, BETWEEN or IN after NOT, got number 5'],
  ['a IS 5', 5, 'expected NULL or NOT NULL after IS, got number 5'],
  ['a IS NOT 5', 9, 'expected NULL after IS NOT, got number 5'],
  ['a IS', 4, 'expected NULL or NOT NULL after IS'],
  // LIKE
  ['a LIKE 5', 7, "expected a string pattern after 'LIKE', got number 5"],
  ['a like b', 7, "expected a string pattern after 'like', got identifier 'b'"],
  ['a LIKE', 6, "expected a string pattern after 'LIKE'"],
  ["a LIKE 'x' ESCAPE 'ab'", 18, "ESCAPE needs exactly one character, got string 'ab'"],
  ["a LIKE 'x' ESCAPE ''", 18, "ESCAPE needs exactly one character, got string ''"],
  ["a LIKE 'x' ESCAPE", 17, "expected a one-character string after 'ESCAPE'"],
  ["a LIKE 'x' ESCAPE b", 18, "expected a one-character string after 'ESCAPE', got identifier 'b'"],
  ["a LIKE 'x!' ESCAPE '!'", 7, "the pattern 'x!' ends with its escape character"],
  ["5 LIKE 'x'", 0, 'LIKE needs a string value, got number 5'],
  ["(a = 1) LIKE 'x'", 0, 'LIKE needs a string value, got a condition'],
  // IN
  ['a IN (b)', 6, "IN list members must be string or number literals, got identifier 'b'"],
  ["a IN ('x', b)", 11, "IN list members must be string or number literals, got identifier 'b'"],
  ["a IN ('x', 1 + 1)", 13, "expected ',' or ')' in the IN list, got '+'"],
  ['a IN (TRUE)', 6, "IN list members must be string or number literals, got 'TRUE'"],
  ['a IN ()', 6, "IN list members must be string or number literals, got ')'"],
  ["a IN 'x'", 5, "expected '(' after 'IN', got string 'x'"],
  ["a IN ('x'", 9, "missing ')' to close the IN list opened at position 5"],
  ["a IN ('x' 'y')", 10, "expected ',' or ')' in the IN list, got string 'y'"],
  ['a IN (', 6, 'expected a literal in the IN list'],
  ["(a = 1) IN ('x')", 0, 'IN needs a string or number value, got a condition'],
  // BETWEEN
  ['a BETWEEN 1', 11, "expected AND in 'BETWEEN'"],
  ['a BETWEEN 1 OR 2', 12, "expected AND in 'BETWEEN', got 'OR'"],
  ["a BETWEEN 'x' AND 'y'", 10, "BETWEEN needs numbers, got string 'x'"],
  ['a BETWEEN 1 AND TRUE', 16, 'BETWEEN needs numbers, got TRUE'],
  // types a literal makes certain
  ['1', 0, 'expected a condition, got number 1'],
  ["'x'", 0, "expected a condition, got string 'x'"],
  ['a + 1', 0, 'expected a condition, got an arithmetic expression'],
  ['a = 1 AND 2', 10, 'expected a condition, got number 2'],
  ["NOT 'x'", 4, "expected a condition, got string 'x'"],
  ['(1) OR a', 0, 'expected a condition, got number 1'],
  ["'a' + 1 = 2", 0, "'+' needs numbers, got string 'a'"],
  ['a * TRUE = 1', 4, "'*' needs numbers, got TRUE"],
  ["-'a' = 1", 1, "unary '-' needs numbers, got string 'a'"],
  ["a > 'x'", 4, "'>' needs numbers, got string 'x'"],
  ['TRUE < 1', 0, "'<' needs numbers, got TRUE"],
  ['(a = 1) + 1 = 2', 0, "'+' needs numbers, got a condition"],
  ['a < b < c', 0, "'<' needs numbers, got a condition"],
];

test('every rejected selector reports its position and what was wrong', () => {
  for (const [text, position, detail] of CASES) {
    assert.throws(() => compileSelector(text), (e: unknown) => {
      assert.ok(e instanceof SelectorError, `${text}: not a SelectorError: ${String(e)}`);
      assert.equal(e.code, 'INVALID_SELECTOR', text);
      assert.equal(e.name, 'SelectorError', text);
      assert.equal(e.detail, detail, text);
      assert.equal(e.position, position, `${text}: ${e.message}`);
      assert.equal(e.selector, text);
      assert.equal(e.message, `invalid selector at position ${position}: ${detail} in "${text}"`);
      return true;
    }, text);
  }
});

test('the example from the API brief', () => {
  assert.throws(() => compileSelector('price = '), {
    name: 'SelectorError', code: 'INVALID_SELECTOR', position: 8,
    message: 'invalid selector at position 8: expected a value after \'=\' in "price = "',
  });
});

test('a SelectorError is an Error', () => {
  try {
    compileSelector('a =');
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.ok(e instanceof SelectorError);
  }
});
