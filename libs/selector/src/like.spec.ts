// LIKE: the bit-parallel matcher against a reference, the patterns that made the old backtracking
// RegExp take minutes, and its work bound (LikePattern.steps: characters read × words of state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector, LikePattern } from './index';

function like(pattern: string, escape: string | null = null): LikePattern {
  const p = LikePattern.compile(pattern, escape);
  assert.ok(p instanceof LikePattern, `${pattern} compiles`);
  return p;
}

/** Reference: the textbook dynamic program over code points (O(n·m), no backtracking). */
function reference(pattern: string, escape: string | null, value: string): boolean {
  const toks: Array<{ t: 'lit'; c: string } | { t: 'any' } | { t: 'star' }> = [];
  const pc = Array.from(pattern);
  for (let i = 0; i < pc.length; i++) {
    const c = pc[i]!;
    if (escape !== null && c === escape) toks.push({ t: 'lit', c: pc[++i]! });
    else if (c === '%') toks.push({ t: 'star' });
    else if (c === '_') toks.push({ t: 'any' });
    else toks.push({ t: 'lit', c });
  }
  const v = Array.from(value);
  // prev[j]: the first i characters of v match the first j tokens.
  let prev = new Array<boolean>(toks.length + 1).fill(false);
  prev[0] = true;
  for (let j = 1; j <= toks.length; j++) prev[j] = prev[j - 1]! && toks[j - 1]!.t === 'star';
  for (let i = 1; i <= v.length; i++) {
    const cur = new Array<boolean>(toks.length + 1).fill(false);
    for (let j = 1; j <= toks.length; j++) {
      const k = toks[j - 1]!;
      if (k.t === 'star') cur[j] = cur[j - 1]! || prev[j]!;
      else cur[j] = prev[j - 1]! && (k.t === 'any' || k.c === v[i - 1]);
    }
    prev = cur;
  }
  return prev[toks.length]!;
}

/** Deterministic pseudo-random numbers (a failure is reproducible). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('LIKE agrees with the reference on 20,000 random patterns and values (astral characters and escapes included)', () => {
  const r = rng(7);
  const alphabet = ['a', 'b', '%', '_', '!', '😀', '\uD800'];
  const pick = (n: number): string => Array.from({ length: Math.floor(r() * n) }, () => alphabet[Math.floor(r() * alphabet.length)]!).join('');
  for (let k = 0; k < 20_000; k++) {
    const escape = r() < 0.3 ? '!' : null;
    let pattern = pick(8);
    if (escape && pattern.endsWith('!')) pattern += 'a';
    if (escape) { // a trailing escape is a compile error, tested elsewhere; keep the pattern valid
      const cps = Array.from(pattern);
      let odd = false;
      for (const c of cps) odd = c === '!' ? !odd : false;
      if (odd) pattern += '%';
    }
    const value = pick(10).replace(/[%_!]/g, () => (r() < 0.5 ? 'a' : 'b'));
    const p = LikePattern.compile(pattern, escape);
    assert.ok(p instanceof LikePattern, `${pattern} compiles`);
    assert.equal(p.test(value), reference(pattern, escape, value), `'${value}' LIKE '${pattern}'${escape ? ` ESCAPE '${escape}'` : ''}`);
  }
});

test('LIKE patterns longer than 31 tokens (state over several words) agree with the reference', () => {
  const r = rng(11);
  for (let k = 0; k < 2_000; k++) {
    const len = 30 + Math.floor(r() * 80);
    const value = Array.from({ length: len }, () => (r() < 0.8 ? 'a' : 'b')).join('');
    // A pattern built from the value (so it often matches), with some characters turned into wildcards.
    let pattern = '';
    for (const c of value) {
      const x = r();
      pattern += x < 0.05 ? '%' : x < 0.15 ? '_' : x < 0.17 ? '' : c;
    }
    if (r() < 0.3) pattern = pattern.replace(/a/, 'b');
    assert.equal(like(pattern).test(value), reference(pattern, null, value), `'${value}' LIKE '${pattern}'`);
  }
});

test("the reported attack: h LIKE '%a%a%a%a%a%b' against 300 a's answers at once, in one pass", () => {
  const p = like('%a%a%a%a%a%b');
  const a300 = 'a'.repeat(300);
  assert.equal(p.test(a300), false);
  assert.ok(p.steps <= 300, `${p.steps} word operations for 300 characters and 6 tokens`);
  assert.equal(p.test(a300 + 'b'), true);
  assert.equal(p.test('aaaab'), false); // four a's: one short
  assert.equal(p.test('aaaaab'), true);
  // Through the whole selector, as the broker runs it.
  const s = compileSelector("h LIKE '%a%a%a%a%a%b'");
  const msg = (h: string) => ({ headers: { h }, id: 'ID:1', priority: 4, timestamp: 0, expires: 0, persistent: true });
  assert.equal(s.matches(msg(a300)), false);
  assert.equal(s.matches(msg(a300 + 'b')), true);
  assert.equal(compileSelector("h NOT LIKE '%a%a%a%a%a%b'").matches(msg(a300)), true);
});

test('pathological patterns on a megabyte value: right answers, work bounded by characters × words', () => {
  const n = 1 << 20;
  const big = 'a'.repeat(n);
  const cases: Array<[string, string, boolean]> = [
    ['%a%a%a%a%a%b', big, false],
    ['%a%a%a%a%a%b', big + 'b', true],
    [`%${'a%'.repeat(40)}b`, big, false], // 41 tokens: two words of state
    [`%${'a'.repeat(2000)}b%`, big, false], // a long literal segment searched everywhere
    [`%${'a'.repeat(2000)}b%`, `${big}b`, true],
    [`%${'_'.repeat(100)}b`, big, false],
    ['_'.repeat(4000), 'a'.repeat(4000), true], // 126 words of state, each character all of them
    ['_'.repeat(4000), 'a'.repeat(4001), false],
    ['_'.repeat(4000), big, false], // too long: dies at character 4001
    ['%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%b', big, false],
    ['a%', big, true],
    ['%', big, true],
  ];
  for (const [pattern, value, want] of cases) {
    const p = like(pattern);
    assert.equal(p.test(value), want, `${pattern.slice(0, 40)}... on ${value.length} characters`);
    const tokens = pattern.replace(/%/g, '').length;
    const words = (tokens >>> 5) + 1;
    assert.ok(p.steps <= value.length * words, `${pattern.slice(0, 40)}...: ${p.steps} > ${value.length} × ${words}`);
  }
  // A trailing '%' stops at the first point of acceptance; a dead state stops at once.
  const prefix = like('a%');
  prefix.test(big);
  assert.equal(prefix.steps, 1);
  const dead = like('b%');
  assert.equal(dead.test(big), false);
  assert.equal(dead.steps, 1);
});

test('LIKE matches code points: _ is one character, a lone surrogate is one too', () => {
  assert.equal(like('_').test('😀'), true);
  assert.equal(like('__').test('😀'), false);
  assert.equal(like('_').test('\uD83D'), true);
  assert.equal(like('\uD83D%').test('😀'), false); // half a character is not a prefix
  assert.equal(like('%😀%').test('x😀y'), true);
  assert.equal(like('caf_').test('café'), true);
});

test('ESCAPE makes %, _ and itself literal; a pattern ending with it does not compile', () => {
  assert.equal(like('50!%', '!').test('50%'), true);
  assert.equal(like('50!%', '!').test('500'), false);
  assert.equal(like('a!_b', '!').test('a_b'), true);
  assert.equal(like('a!_b', '!').test('axb'), false);
  assert.equal(like('a!!b', '!').test('a!b'), true);
  assert.equal(like('a__b', '_').test('a_b'), true); // the escape character may be '_' itself
  assert.equal(like('%!%', '!').test('100%'), true);
  assert.deepEqual(LikePattern.compile('x!', '!'), { trailingEscape: true });
  assert.equal(like('', null).test(''), true);
  assert.equal(like('', null).test('a'), false);
});
