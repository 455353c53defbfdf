// Runtime values and SQL three-valued logic for selectors.
// JMS 1.1 section 3.8.1.1: a NULL operand makes comparisons and arithmetic UNKNOWN; AND/OR/NOT
// follow SQL's truth tables; a selector that evaluates to UNKNOWN (or FALSE) does not match.
//
// Hawser's coercion decision (README.md): STOMP header values are strings, so a string meets a
// number by being parsed as one; a string that is not a number makes the operation UNKNOWN
// (the JMS spec says FALSE for unlike types; UNKNOWN also keeps `NOT (price > 10)` from matching
// a message whose price is 'cheap').

/** A runtime value. `null` is SQL NULL (an absent header); as a truth value it is UNKNOWN. */
export type Value = string | number | boolean | null;
/** A truth value: true, false, or null for UNKNOWN. */
export type Truth = boolean | null;

// Decimal numbers as people write them in headers: 12, -3, 12.5, .5, 1e3. No hex, no Infinity.
const NUMERIC_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The number a header string denotes, or null if it is not one (surrounding blanks ignored). */
export function parseNumeric(s: string): number | null {
  const t = s.trim();
  return NUMERIC_RE.test(t) ? Number(t) : null;
}

export function toNumber(v: Value): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return parseNumeric(v);
  return null;
}

/** A value in a condition: booleans as they are, header strings 'true'/'false' (any case) as
 *  booleans, anything else UNKNOWN. */
export function toTruth(v: Value): Truth {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const l = v.toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
  }
  return null;
}

/** `a = b`. Like types compare directly; a string meets a number or a boolean by coercion. */
export function equals(a: Value, b: Value): Truth {
  if (a === null || b === null) return null;
  if (typeof a === typeof b) return a === b;
  if (typeof a === 'string') return coercedEquals(a, b as number | boolean);
  if (typeof b === 'string') return coercedEquals(b, a);
  return null; // number against boolean: unlike types
}

function coercedEquals(s: string, other: number | boolean): Truth {
  const v = typeof other === 'number' ? parseNumeric(s) : toTruth(s);
  return v === null ? null : v === other;
}

export type Ordering = '<' | '<=' | '>' | '>=';

/** `a < b` etc. JMS 1.1: only numbers are ordered; strings are ordered as the numbers they denote. */
export function compare(op: Ordering, a: Value, b: Value): Truth {
  const x = toNumber(a);
  if (x === null) return null;
  const y = toNumber(b);
  if (y === null) return null;
  switch (op) {
    case '<': return x < y;
    case '<=': return x <= y;
    case '>': return x > y;
    case '>=': return x >= y;
  }
}

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%';

/** Arithmetic in IEEE doubles. Division (or %) by zero is NULL rather than an error or Infinity:
 *  ActiveMQ's integer division throws, which drops the message; NULL does the same, quietly. */
export function arithmetic(op: ArithmeticOp, a: Value, b: Value): number | null {
  const x = toNumber(a);
  if (x === null) return null;
  const y = toNumber(b);
  if (y === null) return null;
  switch (op) {
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': return y === 0 ? null : x / y;
    case '%': return y === 0 ? null : x % y;
  }
}

export function and3(a: Truth, b: Truth): Truth {
  if (a === false || b === false) return false;
  return a === null || b === null ? null : true;
}

export function or3(a: Truth, b: Truth): Truth {
  if (a === true || b === true) return true;
  return a === null || b === null ? null : false;
}

export function not3(a: Truth): Truth {
  return a === null ? null : !a;
}

