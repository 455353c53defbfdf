// Random header values, bodies, destinations and selectors for the frame generator: the
// edge cases a broker has to survive (huge and negative numbers, unicode, escapes, NULs,
// pathological LIKE patterns, deep nesting, long IN lists). Pure.
import type { Prng } from './prng';

const WORDS = ['a', 'x', 'fuzz', 'order', 'id', 'JMSType', 'color', 'h', 'priority', 'null', 'true', 'TRUE', 'NULL', '0', '-1'];
const UNICODE = ['é', 'ß', '日本語', '🦀', '👩‍👩‍👧', '\u200b', '\ufeff', '\u202e', 'Ω', '\u0301', 'ﬁ', '\uffff', '𝔘𝔫𝔦'];
const SPECIAL = ['\n', '\r', ':', '\\', '\0', '\r\n', '\\n', '\\c', '\\r', '\\t', '\\', ' ', '\t', '%', '_', "'", '"'];

export const NUMBERS = [
  '0', '-0', '1', '-1', '9', '10', '255', '256', '65535', '65536', '2147483647', '2147483648', '-2147483648',
  '4294967295', '4294967296', '9007199254740991', '9007199254740993', '-9007199254740993', '18446744073709551616',
  '99999999999999999999999999999', '1e308', '1e309', '-1e309', '1.5', '0x10', '010', ' 5', '5 ', '+5', 'NaN',
  'Infinity', '-Infinity', '', 'abc', '1,000', '٣', '1_000',
];

/** A short random string (ASCII, unicode, specials or a mix). */
export function str(rng: Prng, max = 24): string {
  const n = rng.size(8, max);
  let out = '';
  for (let i = 0; i < n; i++) {
    out += rng.weighted<() => string>([
      [60, () => String.fromCharCode(rng.range(0x61, 0x7a))],
      [10, () => String.fromCharCode(rng.range(0x20, 0x7e))],
      [8, () => rng.pick(UNICODE)],
      [4, () => rng.pick(SPECIAL)],
      [6, () => rng.pick(WORDS)],
      [2, () => String.fromCodePoint(rng.range(0x80, 0x10ffff))],
    ])();
  }
  return out;
}

export function number(rng: Prng): string {
  return rng.chance(0.7) ? rng.pick(NUMBERS) : String(rng.range(-1000, 1_000_000_000) * (rng.chance(0.5) ? 1 : 1000));
}

/** Any header value: a word, a number, unicode, escapes, a long run. */
export function value(rng: Prng): string {
  return rng.weighted<() => string>([
    [40, () => str(rng)],
    [20, () => number(rng)],
    [10, () => rng.pick(WORDS)],
    [5, () => ''],
    [3, () => 'x'.repeat(rng.size(100, 20_000))],
    [2, () => rng.pick(SPECIAL).repeat(rng.range(1, 50))],
  ])();
}

export const QUEUE_POOL = 8;
export const TOPIC_POOL = 8;
export const DURABLE_TOPIC_POOL = 4;
export const CLIENT_ID_POOL = 6;

export const poolQueue = (n: number): string => `/queue/fuzz.${n}`;
export const poolTopic = (n: number): string => `/topic/fuzz.${n}`;
export const durableTopic = (n: number): string => `/topic/fuzz.durable.${n}`;

/**
 * A destination. Mostly the fuzz pools (so the broker's destination count stays bounded and
 * the queues can be drained at the end); rarely a random, odd or invalid name.
 */
export function destination(rng: Prng): string {
  return rng.weighted<() => string>([
    [45, () => poolQueue(rng.int(QUEUE_POOL))],
    [40, () => poolTopic(rng.int(TOPIC_POOL))],
    [2, () => durableTopic(rng.int(DURABLE_TOPIC_POOL))],
    [1, () => `/queue/fuzz.r.${str(rng, 40)}`],
    [1, () => `/topic/fuzz.r.${str(rng, 40)}`],
    [1, () => rng.pick(['', '/', '/queue/', '/topic/', 'queue', '/temp-queue/x', '/temp-topic/y', 'queue://a', '/queue/a/../b', '/queue/*', '/topic/>', '/queue/a,/queue/b', '/exchange/x', '/amq/queue/x'])],
    [0.2, () => `/queue/fuzz.long.${'q'.repeat(rng.size(300, 12_000))}`],
  ])();
}

/** A body: mostly small text, sometimes binary with NULs, rarely large. */
export function body(rng: Prng): Buffer {
  return rng.weighted<() => Buffer>([
    [50, () => Buffer.from(str(rng, 200))],
    [25, () => Buffer.alloc(0)],
    [15, () => rng.bytes(rng.size(64, 4096))],
    [8, () => Buffer.from(JSON.stringify({ n: rng.u32(), s: str(rng) }))],
    [1.5, () => Buffer.alloc(rng.size(16_384, 65_536), rng.int(256))],
    [0.05, () => Buffer.alloc(rng.range(100_000, 1_100_000), 0x61)],
  ])();
}

// ---- selectors (libs/selector's JMS SQL-92 subset) --------------------------------------

const IDENTS = ['h', 'color', 'priority', 'JMSPriority', 'JMSType', 'JMSMessageID', 'JMSTimestamp', 'JMSCorrelationID', 'JMSDeliveryMode', 'x', 'n', 'a_b', '$x', 'é', 'AND', 'NULL'];
const CMP = ['=', '<>', '<', '>', '<=', '>=', '!=', '==', '=<'];
const ARITH = ['+', '-', '*', '/', '%'];

function literal(rng: Prng): string {
  return rng.weighted<() => string>([
    [30, () => `'${str(rng).replace(/'/g, "''")}'`],
    [30, () => rng.pick(['0', '1', '-1', '1.5', '1e308', '1e309', '-1e-400', '0x1F', '9223372036854775808', '00', '.5', '5.', '1E+5', '-0'])],
    [10, () => rng.pick(['TRUE', 'FALSE', 'NULL', 'true', 'UNKNOWN'])],
    [5, () => `'${str(rng)}`], // unterminated
  ])();
}

function expr(rng: Prng, depth: number): string {
  if (depth <= 0) return rng.chance(0.5) ? rng.pick(IDENTS) : literal(rng);
  const d = depth - 1;
  return rng.weighted<() => string>([
    [20, () => `${rng.pick(IDENTS)} ${rng.pick(CMP)} ${literal(rng)}`],
    [10, () => `${expr(rng, d)} ${rng.pick(['AND', 'OR', 'and', 'or'])} ${expr(rng, d)}`],
    [6, () => `NOT ${expr(rng, d)}`],
    [8, () => `(${expr(rng, d)})`],
    [6, () => `${expr(rng, d)} ${rng.pick(ARITH)} ${expr(rng, d)}`],
    [5, () => `${rng.pick(IDENTS)} ${rng.chance(0.3) ? 'NOT ' : ''}BETWEEN ${literal(rng)} AND ${literal(rng)}`],
    [5, () => `${rng.pick(IDENTS)} ${rng.chance(0.3) ? 'NOT ' : ''}IN (${Array.from({ length: rng.range(0, 6) }, () => literal(rng)).join(', ')})`],
    [8, () => `${rng.pick(IDENTS)} ${rng.chance(0.3) ? 'NOT ' : ''}LIKE '${likePattern(rng, 40)}'${rng.chance(0.2) ? ` ESCAPE '${rng.pick(['\\', '!', '', 'ab', '%'])}'` : ''}`],
    [4, () => `${rng.pick(IDENTS)} IS ${rng.chance(0.5) ? 'NOT ' : ''}NULL`],
    [2, () => `-${expr(rng, d)}`],
  ])();
}

/** A LIKE pattern: wildcards, escapes and the backtracking killers. */
export function likePattern(rng: Prng, max: number): string {
  const n = rng.size(10, max);
  let out = '';
  for (let i = 0; i < n; i++) out += rng.weighted([[30, '%'], [20, 'a'], [10, '_'], [5, 'b'], [3, "''"], [2, '\\'], [2, '!'], [3, '%a']] as const);
  return out;
}

/** A selector: mostly well-formed, sometimes pathological (the attacks the limits bound), sometimes garbage. */
export function selector(rng: Prng): string {
  return rng.weighted<() => string>([
    [50, () => expr(rng, rng.range(0, 4))],
    [6, () => `h LIKE '${'%a'.repeat(rng.range(5, 2000))}%b'`],
    [3, () => `h LIKE '%${'a'.repeat(rng.range(100, 4070))}b%'`],
    [3, () => `${'('.repeat(rng.range(50, 5000))}h = 'a'${')'.repeat(rng.range(0, 5000))}`],
    [3, () => `${'NOT '.repeat(rng.range(50, 2000))}h = 'a'`],
    [3, () => `h IN (${Array.from({ length: rng.range(500, 3000) }, (_, i) => `'v${i}'`).join(',')})`],
    [3, () => Array.from({ length: rng.range(100, 3000) }, (_, i) => `h${i} = ${i}`).join(rng.pick([' AND ', ' OR ']))],
    [2, () => 'h = 1 AND '.repeat(rng.range(400, 1000)) + 'h = 1'],
    [2, () => Array.from({ length: rng.range(200, 2000) }, () => 'a').join(' + ')],
    [5, () => str(rng, 60)],
    [3, () => ''],
    [1, () => 'x'.repeat(rng.range(4000, 9000))],
  ])();
}
