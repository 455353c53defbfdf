// Tokenizer for JMS message selectors (JMS 1.1 section 3.8.1.1, with ActiveMQ's lexical extensions:
// hex/octal/long integer literals, "double-quoted" identifiers, -- and /* */ comments).
import { SelectorError } from './errors';

export type TokenType = 'str' | 'num' | 'ident' | 'kw' | 'op' | 'eof';

export interface Token {
  type: TokenType;
  /** Source text of the token (for messages). */
  text: string;
  /** 0-based offset of the first character. */
  pos: number;
  /** str: the unescaped string; num: the numeric value; ident: the identifier name;
   *  kw: the keyword in upper case; op: the operator. */
  value: string | number;
}

// JMS 1.1: reserved words, case-insensitive. NULL/TRUE/FALSE are literals, the rest operators.
const KEYWORDS = new Set(['NOT', 'AND', 'OR', 'BETWEEN', 'LIKE', 'IN', 'IS', 'ESCAPE', 'NULL', 'TRUE', 'FALSE']);

// JMS 1.1: an identifier is a Java identifier (letter, '_' or '$', then also digits).
const IDENT_RE = /[\p{L}_$][\p{L}\p{N}_$]*/uy;
const IDENT_PART_RE = /[\p{L}\p{N}_$.]/u;
// ActiveMQ's numeric literals: 0x hex, 0-prefixed octal, decimal with optional L, and floats.
const HEX_RE = /0[xX]([0-9a-fA-F]+)[lL]?/y;
const FLOAT_RE = /\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/y;
const INT_RE = /(\d+)[lL]?/y;

// Operators people bring from other languages: say what to write instead of a bare "unexpected".
const WRONG_OPERATORS: Array<[string, string]> = [
  ['!=', "use '<>'"], ['==', "use '='"], ['=>', "use '>='"], ['=<', "use '<='"],
  ['&&', 'use AND'], ['||', 'use OR'], ['!', 'use NOT'],
];
const OPERATORS = ['<>', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ','];

function sticky(re: RegExp, text: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(text);
}

export function tokenize(text: string): Token[] {
  const fail = (pos: number, detail: string): never => { throw new SelectorError(text, pos, detail); };
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') { i++; continue; }
    // ActiveMQ: "--" line comments and "/* */" block comments are whitespace.
    if (text.startsWith('--', i)) {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl + 1;
      continue;
    }
    if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) fail(i, "unterminated comment (missing '*/')");
      i = end + 2;
      continue;
    }
    const start = i;
    if (c === "'" || c === '"') {
      // JMS 1.1: a string literal is enclosed in single quotes, an included quote is doubled.
      // ActiveMQ: the same with double quotes is an identifier (lets headers like "content-type" in).
      let out = '';
      i++;
      for (;;) {
        if (i >= text.length) {
          fail(start, c === "'" ? "unterminated string (missing closing ')" : 'unterminated quoted identifier (missing closing ")');
        }
        if (text[i] === c) {
          if (text[i + 1] === c) { out += c; i += 2; continue; }
          i++;
          break;
        }
        out += text[i++];
      }
      if (c === '"' && out === '') fail(start, 'empty quoted identifier');
      tokens.push({ type: c === "'" ? 'str' : 'ident', text: text.slice(start, i), pos: start, value: out });
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && text[i + 1] >= '0' && text[i + 1] <= '9')) {
      let value: number;
      let m = sticky(HEX_RE, text, i);
      if (m) {
        value = parseInt(m[1], 16);
      } else if ((m = sticky(FLOAT_RE, text, i))) {
        value = Number(m[0]);
      } else {
        m = sticky(INT_RE, text, i)!;
        const digits = m[1];
        if (digits.length > 1 && digits[0] === '0') {
          // ActiveMQ (as Java): a leading 0 means octal.
          if (!/^[0-7]+$/.test(digits)) fail(start, `malformed number '${digits}' (a leading 0 means octal)`);
          value = parseInt(digits, 8);
        } else {
          value = Number(digits);
        }
      }
      i += m[0].length;
      if (i < text.length && IDENT_PART_RE.test(text[i])) {
        let end = i;
        while (end < text.length && IDENT_PART_RE.test(text[end])) end++;
        fail(start, `malformed number '${text.slice(start, end)}'`);
      }
      tokens.push({ type: 'num', text: m[0], pos: start, value });
      continue;
    }
    const id = sticky(IDENT_RE, text, i);
    if (id) {
      i += id[0].length;
      const upper = id[0].toUpperCase();
      if (KEYWORDS.has(upper)) tokens.push({ type: 'kw', text: id[0], pos: start, value: upper });
      else tokens.push({ type: 'ident', text: id[0], pos: start, value: id[0] });
      continue;
    }
    const wrong = WRONG_OPERATORS.find(([op]) => text.startsWith(op, i));
    if (wrong) fail(start, `unknown operator '${wrong[0]}' (${wrong[1]})`);
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) {
      const ch = String.fromCodePoint(text.codePointAt(i)!);
      fail(start, `unexpected character '${ch}'`);
    }
    i += op!.length;
    tokens.push({ type: 'op', text: op!, pos: start, value: op! });
  }
  tokens.push({ type: 'eof', text: '', pos: text.length, value: '' });
  return tokens;
}
