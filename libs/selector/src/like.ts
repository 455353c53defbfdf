// LIKE without backtracking. JMS 1.1 section 3.8.1.1: '%' stands for any sequence of characters
// (none included), '_' for any one character, and the ESCAPE character makes the next pattern
// character literal. Characters are code points (a lone surrogate counts as one), as in a 'u' RegExp.
//
// Why not a RegExp: `^[\s\S]*a[\s\S]*a...b$` backtracks, O(n^k) for k wildcards. One subscriber's
// `h LIKE '%a%a%a%a%a%b'` against a 300-character header held the store's event loop for minutes.
//
// The pattern is a nondeterministic automaton simulated bit-parallel ("shift-and", Baeza-Yates
// and Gonnet 1992): state j means "the first j non-% tokens are matched"; a '%' after token j is a
// loop on state j (it eats any character and stays). All states advance together on each
// character of the value:  D' = ((D << 1) & MATCH[c]) | (D & LOOP).
// Cost: one pass over the value, ceil((tokens + 1) / 32) words per character, whatever the
// pattern and the value: O(n·m/32) at worst, and usually it stops early (no live state left, or
// the accepting state reached under a trailing '%').

export class LikePattern {
  /** Word operations of the last `test` (characters read × words of state): for specs. */
  steps = 0;

  private constructor(
    private readonly words: number,
    /** Bit j+1 set where token j is '_' (matches any character). */
    private readonly any: Uint32Array,
    /** Code point → bits of the tokens it matches (its literal tokens and the '_' ones). */
    private readonly masks: Map<number, Uint32Array>,
    /** The same for code points below 128, without the Map lookup. */
    private readonly ascii: Array<Uint32Array | undefined>,
    /** Bit j set where a '%' follows the first j tokens. */
    private readonly loop: Uint32Array,
    /** Index of the accepting state (the number of non-% tokens). */
    private readonly accept: number,
    /** Scratch state, reused: `test` is synchronous. */
    private readonly state: Uint32Array,
  ) {}

  /** Compiles a pattern; `trailingEscape` if it ends with its escape character (a syntax error). */
  static compile(pattern: string, escape: string | null): LikePattern | { trailingEscape: true } {
    const tokens: Array<number | null> = []; // a code point, or null for '_'
    const loopAt: number[] = [];
    let escaped = false;
    for (const ch of pattern) { // by code point
      if (escaped) { tokens.push(ch.codePointAt(0)!); escaped = false; continue; }
      if (escape !== null && ch === escape) { escaped = true; continue; }
      if (ch === '%') loopAt.push(tokens.length);
      else if (ch === '_') tokens.push(null);
      else tokens.push(ch.codePointAt(0)!);
    }
    if (escaped) return { trailingEscape: true };
    const accept = tokens.length;
    const words = (accept >>> 5) + 1;
    const set = (a: Uint32Array, bit: number): void => { a[bit >>> 5] = a[bit >>> 5]! | (1 << (bit & 31)); };
    const any = new Uint32Array(words);
    tokens.forEach((t, j) => { if (t === null) set(any, j + 1); });
    const masks = new Map<number, Uint32Array>();
    tokens.forEach((t, j) => {
      if (t === null) return;
      let m = masks.get(t);
      if (!m) masks.set(t, (m = any.slice()));
      set(m, j + 1);
    });
    const ascii: Array<Uint32Array | undefined> = new Array(128);
    for (const [c, m] of masks) if (c < 128) ascii[c] = m;
    const loop = new Uint32Array(words);
    for (const j of loopAt) set(loop, j);
    return new LikePattern(words, any, masks, ascii, loop, accept, new Uint32Array(words));
  }

  /** Whether the whole of `s` matches the pattern. */
  test(s: string): boolean {
    const { words, any, masks, ascii, loop, accept } = this;
    const d = this.state;
    d.fill(0);
    d[0] = 1; // state 0: nothing matched yet
    const aw = accept >>> 5;
    const ab = 1 << (accept & 31);
    // Under a trailing '%' the accepting state loops: once reached, the rest cannot undo it.
    const acceptLoops = (loop[aw]! & ab) !== 0;
    let steps = 0;
    let read = 0; // characters read: no state above it can be live, so no word above read/32 is touched
    const n = s.length;
    for (let i = 0; i < n;) {
      if (acceptLoops && (d[aw]! & ab) !== 0) break;
      let c = s.charCodeAt(i++);
      if (c >= 0xd800 && c <= 0xdbff && i < n) {
        const lo = s.charCodeAt(i);
        if (lo >= 0xdc00 && lo <= 0xdfff) { c = ((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000; i++; }
      }
      const m = (c < 128 ? ascii[c] : masks.get(c)) ?? any;
      const top = Math.min(words, (++read >>> 5) + 1);
      let carry = 0;
      let alive = 0;
      for (let w = 0; w < top; w++) {
        const x = d[w]!;
        const v = (((x << 1) | carry) & m[w]!) | (x & loop[w]!);
        carry = x >>> 31;
        d[w] = v;
        alive |= v;
      }
      steps += top;
      if (alive === 0) { this.steps = steps; return false; } // no state left: no suffix can match
    }
    this.steps = steps;
    return (d[aw]! & ab) !== 0;
  }
}
