// Selector compiler: a recursive-descent parser that builds closures as it goes (no eval, no
// new Function), so matching a message is a few function calls.
//
// Grammar (JMS 1.1 section 3.8.1.1, SQL-92 precedence, ActiveMQ's extensions in brackets):
//   selector   := [ or ] EOF                       (empty selector: match all)
//   or         := and ( OR and )*
//   and        := not ( AND not )*
//   not        := NOT not | equality               (SQL: NOT applies to a whole predicate)
//   equality   := relational ( ('=' | '<>') relational | IS [NOT] NULL )*
//   relational := additive ( ('<'|'<='|'>'|'>=') additive
//                          | [NOT] LIKE string [ESCAPE string]
//                          | [NOT] BETWEEN additive AND additive
//                          | [NOT] IN '(' literal (',' literal)* ')' )*
//   additive   := multiplicative ( ('+'|'-') multiplicative )*
//   multiplicative := unary ( ('*'|'/'|['%']) unary )*
//   unary      := ('+'|'-') unary | primary
//   primary    := string | number | TRUE | FALSE | [NULL] | identifier | '(' or ')'
// Types are checked as far as literals allow (ActiveMQ does the same): a condition must be
// boolean, arithmetic and ordering need numbers, LIKE needs a string.
//
// A selector comes from any client and runs on the store's one event loop for every message of
// its destination, so what it may cost is bounded (SelectorLimits): its length, how deep it
// nests (the parser and the closures recurse that deep), and IN lists. LIKE is linear (like.ts).
import { SelectorError, type SelectorLimitName } from './errors';
import { tokenize, Token } from './lexer';
import { LikePattern } from './like';
import {
  Value, Truth, ArithmeticOp, Ordering,
  toTruth, equals, compare, arithmetic, and3, not3,
} from './values';

/** What the broker passes in for each message. */
export interface SelectorMessage {
  /** Application headers (STOMP user headers). */
  headers: Record<string, string>;
  id: string;
  priority: number;
  timestamp: number;
  expires: number;
  persistent: boolean;
}

export interface Selector {
  readonly text: string;
  matches(m: SelectorMessage): boolean;
}

/**
 * What a selector may cost. The store takes them from its config (broker.selectorMaxLength,
 * broker.selectorMaxDepth, broker.selectorMaxInList); a selector over one is refused with a
 * SelectorError whose `limit` names it.
 */
export interface SelectorLimits {
  /** Characters (UTF-16 code units) of the selector text, comments included. */
  maxLength: number;
  /** Nesting: parentheses, NOT and signs inside each other, and the height of the expression tree
   *  (`a + b + c` is 3 deep; chains of AND or OR count once, however long). */
  maxDepth: number;
  /** Members of one IN list. */
  maxInList: number;
}

export const DEFAULT_SELECTOR_LIMITS: Readonly<SelectorLimits> = Object.freeze({ maxLength: 4096, maxDepth: 64, maxInList: 1024 });

/** The store's config key of each limit: a refused client reads what the operator can change. */
const LIMIT_KEYS: Record<SelectorLimitName, string> = {
  maxLength: 'broker.selectorMaxLength', maxDepth: 'broker.selectorMaxDepth', maxInList: 'broker.selectorMaxInList',
};

type Eval = (m: SelectorMessage) => Value;

/** Static kind of an expression: what literals tell us before any message is seen. */
type Kind = 'bool' | 'num' | 'str' | 'null' | 'any';

interface Node {
  kind: Kind;
  pos: number;
  /** For messages: "number 5", "identifier 'price'", "a condition", ... */
  desc: string;
  ev: Eval;
  /** Height of the expression tree (a leaf is 1): how deep evaluating it recurses. */
  depth: number;
  /** Set on literals (and signed numeric literals): their value. */
  literal?: { value: Value };
}

// JMS 1.1 header fields, mapped onto what the broker knows of a message. JMSCorrelationID,
// JMSType and JMSReplyTo travel as the STOMP headers correlation-id, type and reply-to.
const JMS_FIELDS = new Map<string, Eval>(Object.entries({
  JMSMessageID: (m) => m.id ?? null,
  JMSPriority: (m) => m.priority ?? null,
  JMSTimestamp: (m) => m.timestamp ?? null,
  JMSExpiration: (m) => m.expires ?? null,
  JMSDeliveryMode: (m) => (m.persistent ? 'PERSISTENT' : 'NON_PERSISTENT'),
  JMSCorrelationID: header('correlation-id'),
  JMSType: header('type'),
  JMSReplyTo: header('reply-to'),
}));
// (A Map, not an object literal: an identifier named "constructor" must not find Object.)

function header(name: string): Eval {
  return (m) => {
    // Own properties only: a header named "constructor" must not find Object.prototype's.
    if (!Object.prototype.hasOwnProperty.call(m.headers, name)) return null;
    const v = m.headers[name] as unknown;
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
  };
}

function describe(t: Token): string {
  switch (t.type) {
    case 'eof': return 'end of input';
    case 'str': return `string ${t.text}`;
    case 'num': return `number ${t.text}`;
    case 'ident': return `identifier '${t.value}'`;
    default: return `'${t.text}'`;
  }
}

const MATCH_ALL = (): boolean => true;

export function compileSelector(text: string, limits: Partial<SelectorLimits> = {}): Selector {
  if (typeof text !== 'string') throw new SelectorError(String(text), 0, 'the selector must be a string');
  const lim: SelectorLimits = { ...DEFAULT_SELECTOR_LIMITS, ...limits };
  if (text.length > lim.maxLength) {
    // Checked before tokenizing: a megabyte of selector costs nothing but this comparison.
    throw limitError(text, lim.maxLength, 'maxLength', `the selector is ${text.length} characters long; the limit is ${lim.maxLength}`);
  }
  const parser = new Parser(text, tokenize(text), lim);
  const root = parser.parseSelector();
  if (root === null) return { text, matches: MATCH_ALL };
  const ev = root.ev;
  return { text, matches: (m) => toTruth(ev(m)) === true };
}

function limitError(text: string, pos: number, limit: SelectorLimitName, detail: string): SelectorError {
  return new SelectorError(text, pos, `${detail} (${LIMIT_KEYS[limit]})`, limit);
}

class Parser {
  private i = 0;
  /** Parentheses, NOTs and signs open around the current token. */
  private nesting = 0;

  constructor(private readonly text: string, private readonly tokens: Token[], private readonly limits: SelectorLimits) {}

  parseSelector(): Node | null {
    if (this.peek().type === 'eof') return null;
    const root = this.parseOr();
    const t = this.peek();
    if (t.type !== 'eof') {
      if (t.type === 'op' && t.value === ')') this.fail(t.pos, "unexpected ')' with no matching '('");
      this.fail(t.pos, `unexpected ${describe(t)} after a complete expression`);
    }
    this.requireCondition(root);
    return root;
  }

  // ---- tokens ----

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.i + ahead, this.tokens.length - 1)];
  }

  private next(): Token {
    const t = this.tokens[this.i];
    if (t.type !== 'eof') this.i++;
    return t;
  }

  private isKw(kw: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.type === 'kw' && t.value === kw;
  }

  private isOp(op: string): boolean {
    const t = this.peek();
    return t.type === 'op' && t.value === op;
  }

  private fail(pos: number, detail: string): never {
    throw new SelectorError(this.text, pos, detail);
  }

  private got(t: Token): string {
    return t.type === 'eof' ? '' : `, got ${describe(t)}`;
  }

  // ---- static checks ----

  private requireCondition(n: Node): void {
    if (n.kind === 'num' || n.kind === 'str') this.fail(n.pos, `expected a condition, got ${n.desc}`);
  }

  private requireNumber(n: Node, what: string): void {
    if (n.kind === 'bool' || n.kind === 'str') this.fail(n.pos, `${what} needs numbers, got ${n.desc}`);
  }

  // ---- limits ----

  /** Entering a '(' / NOT / sign: the parser recurses, so the bound is checked on the way down. */
  private enter(pos: number): void {
    if (++this.nesting > this.limits.maxDepth) this.tooDeep(pos);
  }

  private leave(): void {
    this.nesting--;
  }

  /** Depth of a node over `children`: checked on the way up (chains of + or = grow it there). */
  private over(pos: number, ...children: Node[]): number {
    let d = 0;
    for (const c of children) if (c.depth > d) d = c.depth;
    if (d + 1 > this.limits.maxDepth) this.tooDeep(pos);
    return d + 1;
  }

  private tooDeep(pos: number): never {
    throw limitError(this.text, pos, 'maxDepth', `the selector nests more than ${this.limits.maxDepth} levels deep`);
  }

  // ---- logic ----

  // A chain of OR (or of AND) is one node over all its operands, evaluated in a loop: a
  // thousand-term `x = 1 OR x = 2 OR ...` is one level deep, not a thousand.

  private parseOr(): Node {
    const first = this.parseAnd();
    if (!this.isKw('OR')) return first;
    const operands = [first];
    while (this.isKw('OR')) {
      this.next();
      operands.push(this.parseAnd());
    }
    for (const n of operands) this.requireCondition(n);
    const evs = operands.map((n) => n.ev);
    // SQL: TRUE if any is TRUE, else UNKNOWN if any is UNKNOWN, else FALSE; left to right, stopping at TRUE.
    return cond(first.pos, this.over(first.pos, ...operands), (m) => {
      let r: Truth = false;
      for (const e of evs) {
        const t = toTruth(e(m));
        if (t === true) return true;
        if (t === null) r = null;
      }
      return r;
    });
  }

  private parseAnd(): Node {
    const first = this.parseNot();
    if (!this.isKw('AND')) return first;
    const operands = [first];
    while (this.isKw('AND')) {
      this.next();
      operands.push(this.parseNot());
    }
    for (const n of operands) this.requireCondition(n);
    const evs = operands.map((n) => n.ev);
    // SQL: FALSE if any is FALSE, else UNKNOWN if any is UNKNOWN, else TRUE; stopping at FALSE.
    return cond(first.pos, this.over(first.pos, ...operands), (m) => {
      let r: Truth = true;
      for (const e of evs) {
        const t = toTruth(e(m));
        if (t === false) return false;
        if (t === null) r = null;
      }
      return r;
    });
  }

  private parseNot(): Node {
    if (!this.isKw('NOT')) return this.parseEquality();
    const pos = this.next().pos;
    this.enter(pos);
    const operand = this.parseNot();
    this.leave();
    this.requireCondition(operand);
    const e = operand.ev;
    return cond(pos, this.over(pos, operand), (m) => not3(toTruth(e(m))));
  }

  // ---- predicates ----

  private parseEquality(): Node {
    let left = this.parseRelational();
    for (;;) {
      const t = this.peek();
      if (t.type === 'op' && (t.value === '=' || t.value === '<>')) {
        this.next();
        const right = this.parseRelational();
        const l = left.ev, r = right.ev;
        const depth = this.over(left.pos, left, right);
        left = t.value === '='
          ? cond(left.pos, depth, (m) => equals(l(m), r(m)))
          : cond(left.pos, depth, (m) => not3(equals(l(m), r(m))));
      } else if (this.isKw('IS')) {
        this.next();
        const negated = this.isKw('NOT');
        if (negated) this.next();
        if (!this.isKw('NULL')) {
          const u = this.peek();
          this.fail(u.pos, `expected ${negated ? 'NULL after IS NOT' : 'NULL or NOT NULL after IS'}${this.got(u)}`);
        }
        this.next();
        const e = left.ev;
        const depth = this.over(left.pos, left);
        left = negated ? cond(left.pos, depth, (m) => e(m) !== null) : cond(left.pos, depth, (m) => e(m) === null);
      } else {
        return left;
      }
    }
  }

  private parseRelational(): Node {
    let left = this.parseAdditive();
    for (;;) {
      const t = this.peek();
      if (t.type === 'op' && (t.value === '<' || t.value === '<=' || t.value === '>' || t.value === '>=')) {
        this.next();
        const op = t.value as Ordering;
        const right = this.parseAdditive();
        this.requireNumber(left, `'${op}'`);
        this.requireNumber(right, `'${op}'`);
        const l = left.ev, r = right.ev;
        left = cond(left.pos, this.over(left.pos, left, right), (m) => compare(op, l(m), r(m)));
        continue;
      }
      let negated = false;
      if (this.isKw('NOT')) {
        if (!this.isKw('LIKE', 1) && !this.isKw('BETWEEN', 1) && !this.isKw('IN', 1)) {
          const u = this.peek(1);
          this.fail(u.pos, `expected LIKE, BETWEEN or IN after NOT${this.got(u)}`);
        }
        this.next();
        negated = true;
      }
      let node: Node;
      if (this.isKw('LIKE')) node = this.parseLike(left);
      else if (this.isKw('BETWEEN')) node = this.parseBetween(left);
      else if (this.isKw('IN')) node = this.parseIn(left);
      else return left;
      if (negated) {
        const e = node.ev;
        node = cond(node.pos, node.depth, (m) => not3(e(m) as Truth)); // NOT LIKE/BETWEEN/IN: one predicate, one level
      }
      left = node;
    }
  }

  private parseLike(left: Node): Node {
    const kw = this.next();
    if (left.kind === 'num' || left.kind === 'bool') this.fail(left.pos, `LIKE needs a string value, got ${left.desc}`);
    const p = this.next();
    // JMS 1.1: pattern-value is a string literal.
    if (p.type !== 'str') this.fail(p.pos, `expected a string pattern after '${kw.text}'${this.got(p)}`);
    let escape: string | null = null;
    if (this.isKw('ESCAPE')) {
      const esc = this.next();
      const e = this.next();
      if (e.type !== 'str') this.fail(e.pos, `expected a one-character string after '${esc.text}'${this.got(e)}`);
      const chars = Array.from(e.value as string);
      if (chars.length !== 1) this.fail(e.pos, `ESCAPE needs exactly one character, got ${describe(e)}`);
      escape = chars[0];
    }
    const like = LikePattern.compile(p.value as string, escape);
    if (!(like instanceof LikePattern)) return this.fail(p.pos, `the pattern ${p.text} ends with its escape character`);
    const e = left.ev;
    return cond(left.pos, this.over(left.pos, left), (m) => {
      const v = e(m);
      return typeof v === 'string' ? like.test(v) : null; // NULL or unlike type: UNKNOWN
    });
  }

  private parseBetween(left: Node): Node {
    const between = this.next();
    const low = this.parseAdditive();
    if (!this.isKw('AND')) {
      const u = this.peek();
      this.fail(u.pos, `expected AND in '${between.text}'${this.got(u)}`);
    }
    this.next();
    const high = this.parseAdditive();
    for (const n of [left, low, high]) this.requireNumber(n, 'BETWEEN');
    const v = left.ev, lo = low.ev, hi = high.ev;
    // JMS 1.1: "age BETWEEN 15 AND 19" is equivalent to "age >= 15 AND age <= 19".
    return cond(left.pos, this.over(left.pos, left, low, high), (m) => {
      const x = v(m);
      const a = compare('>=', x, lo(m));
      return a === false ? false : and3(a, compare('<=', x, hi(m)));
    });
  }

  private parseIn(left: Node): Node {
    const inTok = this.next();
    if (left.kind === 'bool') this.fail(left.pos, `IN needs a string or number value, got ${left.desc}`);
    const open = this.next();
    if (open.type !== 'op' || open.value !== '(') this.fail(open.pos, `expected '(' after '${inTok.text}'${this.got(open)}`);
    const members: Value[] = [];
    for (;;) {
      if (members.length === this.limits.maxInList) {
        throw limitError(this.text, this.peek().pos, 'maxInList', `the IN list has more than ${this.limits.maxInList} members; the limit is ${this.limits.maxInList}`);
      }
      members.push(this.parseInMember());
      const t = this.next();
      if (t.type === 'op' && t.value === ',') continue;
      if (t.type === 'op' && t.value === ')') break;
      this.fail(t.pos, t.type === 'eof'
        ? `missing ')' to close the IN list opened at position ${open.pos}`
        : `expected ',' or ')' in the IN list${this.got(t)}`);
    }
    const e = left.ev;
    const depth = this.over(left.pos, left);
    if (members.every((x) => typeof x === 'string')) {
      // The common case (JMS 1.1 allows only string literals here): one Set lookup.
      const set = new Set(members as string[]);
      return cond(left.pos, depth, (m) => {
        const v = e(m);
        if (v === null) return null;
        if (typeof v === 'string') return set.has(v);
        return anyEqual(v, members);
      });
    }
    return cond(left.pos, depth, (m) => {
      const v = e(m);
      return v === null ? null : anyEqual(v, members);
    });
  }

  /** A member of an IN list: a string or (ActiveMQ allows it) a signed number literal. */
  private parseInMember(): Value {
    const t = this.next();
    if (t.type === 'str') return t.value;
    if (t.type === 'num') return t.value;
    if (t.type === 'op' && (t.value === '-' || t.value === '+') && this.peek().type === 'num') {
      const n = this.next().value as number;
      return t.value === '-' ? -n : n;
    }
    if (t.type === 'eof') this.fail(t.pos, 'expected a literal in the IN list');
    return this.fail(t.pos, `IN list members must be string or number literals, got ${describe(t)}`);
  }

  // ---- values ----

  private parseAdditive(): Node {
    let left = this.parseMultiplicative();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next().value as ArithmeticOp;
      left = this.arith(op, left, this.parseMultiplicative());
    }
    return left;
  }

  private parseMultiplicative(): Node {
    let left = this.parseUnary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = this.next().value as ArithmeticOp;
      left = this.arith(op, left, this.parseUnary());
    }
    return left;
  }

  private arith(op: ArithmeticOp, left: Node, right: Node): Node {
    this.requireNumber(left, `'${op}'`);
    this.requireNumber(right, `'${op}'`);
    const l = left.ev, r = right.ev;
    return { kind: 'num', pos: left.pos, desc: 'an arithmetic expression', ev: (m) => arithmetic(op, l(m), r(m)), depth: this.over(left.pos, left, right) };
  }

  private parseUnary(): Node {
    if (!this.isOp('-') && !this.isOp('+')) return this.parsePrimary();
    const t = this.next();
    this.enter(t.pos);
    const operand = this.parseUnary();
    this.leave();
    this.requireNumber(operand, `unary '${t.value}'`);
    if (operand.literal && typeof operand.literal.value === 'number') {
      const value = t.value === '-' ? -operand.literal.value : operand.literal.value;
      return { kind: 'num', pos: t.pos, desc: `number ${value}`, ev: () => value, literal: { value }, depth: 1 };
    }
    const e = operand.ev;
    return {
      kind: 'num', pos: t.pos, desc: 'an arithmetic expression', depth: this.over(t.pos, operand),
      ev: t.value === '-' ? (m) => arithmetic('-', 0, e(m)) : (m) => arithmetic('+', 0, e(m)),
    };
  }

  private parsePrimary(): Node {
    const t = this.peek();
    switch (t.type) {
      case 'str': {
        this.next();
        const value = t.value as string;
        return { kind: 'str', pos: t.pos, desc: describe(t), ev: () => value, literal: { value }, depth: 1 };
      }
      case 'num': {
        this.next();
        const value = t.value as number;
        return { kind: 'num', pos: t.pos, desc: describe(t), ev: () => value, literal: { value }, depth: 1 };
      }
      case 'ident': {
        this.next();
        const name = t.value as string;
        return { kind: 'any', pos: t.pos, desc: describe(t), ev: JMS_FIELDS.get(name) ?? header(name), depth: 1 };
      }
      case 'kw':
        if (t.value === 'TRUE' || t.value === 'FALSE') {
          this.next();
          const value = t.value === 'TRUE';
          return { kind: 'bool', pos: t.pos, desc: t.value, ev: () => value, literal: { value }, depth: 1 };
        }
        if (t.value === 'NULL') {
          this.next();
          return { kind: 'null', pos: t.pos, desc: 'NULL', ev: () => null, literal: { value: null }, depth: 1 };
        }
        break;
      case 'op':
        if (t.value === '(') {
          this.next();
          this.enter(t.pos);
          const inner = this.parseOr();
          this.leave();
          const close = this.peek();
          if (close.type !== 'op' || close.value !== ')') {
            this.fail(close.pos, `missing ')' to close '(' at position ${t.pos}${this.got(close)}`);
          }
          this.next();
          return { ...inner, pos: t.pos, literal: undefined };
        }
        break;
    }
    const prev = this.i > 0 ? this.tokens[this.i - 1] : null;
    this.fail(t.pos, prev ? `expected a value after '${prev.text}'${this.got(t)}` : `expected a condition${this.got(t)}`);
  }
}

function cond(pos: number, depth: number, ev: (m: SelectorMessage) => Truth): Node {
  return { kind: 'bool', pos, desc: 'a condition', ev, depth };
}

function anyEqual(v: Value, members: Value[]): Truth {
  // SQL: x IN (a, b) is x = a OR x = b, so an UNKNOWN comparison and no match is UNKNOWN.
  let unknown = false;
  for (const x of members) {
    const r = equals(v, x);
    if (r === true) return true;
    if (r === null) unknown = true;
  }
  return unknown ? null : false;
}
