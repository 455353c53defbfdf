// Wildcard topic subscriptions (ActiveMQ's destination wildcards, which MQTT's map onto:
// `a/+/c` -> /topic/a.*.c, `a/#` -> /topic/a.>). A topic name's path (after /topic/) is split
// into segments at '.':
//   '*'  matches exactly one segment              a.*.c ~ a.b.c          (not a.c, a.b.b.c)
//   '>'  matches the rest: zero or more segments  a.>   ~ a, a.b, a.b.c  (not ab)
// `>` may only end a pattern. `a.>` matches `a` as well: MQTT's `sport/#` matches `sport`
// [MQTT-4.7.1-2], and ActiveMQ's PrefixDestinationFilter lets `A.>` match `A` too (so does
// libs/network/src/filter.ts). `>` alone matches every topic. A segment is a wildcard only when
// it is exactly `*` or `>` (`a*` is a plain name).
// The `$` rule [MQTT-4.7.2-1]: a pattern whose FIRST segment is `*` or `>` does not match a
// topic whose first segment starts with `$` ($SYS...): `>` and `*.x` never see them,
// `$SYS.>` does.
//
// Matching costs no work per subscription: patterns live in a segment trie (PatternTrie) walked
// once per published message, and exact topic names never enter it (the core finds them by a
// map lookup). Retained messages live in the mirror image (TopicTrie): topics in a trie walked
// by a pattern.

/** True when the topic path ('a.*.c') has a wildcard segment. */
export function isPattern(path: string): boolean {
  if (!path.includes('*') && !path.includes('>')) return false;
  return path.split('.').some((s) => s === '*' || s === '>');
}

/** Why a topic pattern is not one, or null when it is valid. */
export function patternError(path: string): string | null {
  const segs = path.split('.');
  for (let i = 0; i < segs.length - 1; i++) {
    if (segs[i] === '>') return `'>' may only be the last segment (it matches the rest of the name)`;
  }
  return null;
}

const dollar = (seg: string | undefined) => seg !== undefined && seg.startsWith('$');

/** Whether pattern `p` (segments) matches topic `t` (segments), the `$` rule included. */
export function matchesTopic(p: readonly string[], t: readonly string[]): boolean {
  if ((p[0] === '*' || p[0] === '>') && dollar(t[0])) return false;
  for (let i = 0; i < p.length; i++) {
    const s = p[i]!;
    if (s === '>') return true; // the rest, zero segments included
    if (i >= t.length) return false;
    if (s !== '*' && s !== t[i]) return false;
  }
  return p.length === t.length;
}

interface PatternNode<T> {
  children: Map<string, PatternNode<T>>;
  /** Patterns ending here. */
  here: T | undefined;
  /** The pattern `<path to here>.>` (or `>` at the root). */
  rest: T | undefined;
}

const patternNode = <T>(): PatternNode<T> => ({ children: new Map(), here: undefined, rest: undefined });

/**
 * Wildcard patterns, each with one value, in a segment trie: match(topic) walks the topic's
 * segments once, following the literal child and the `*` child at each level, and picks up the
 * `>` value of every node it passes. Cost: O(segments x wildcard branches), whatever the number
 * of patterns.
 */
export class PatternTrie<T> {
  private readonly root = patternNode<T>();
  private count = 0;

  get size(): number { return this.count; }

  set(pattern: string, value: T): void {
    const segs = pattern.split('.');
    let n = this.root;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      if (s === '>' && i === segs.length - 1) {
        if (n.rest === undefined) this.count++;
        n.rest = value;
        return;
      }
      let c = n.children.get(s);
      if (!c) { c = patternNode<T>(); n.children.set(s, c); }
      n = c;
    }
    if (n.here === undefined) this.count++;
    n.here = value;
  }

  delete(pattern: string): void {
    const segs = pattern.split('.');
    const path: PatternNode<T>[] = [this.root];
    let n = this.root;
    const gt = segs[segs.length - 1] === '>';
    for (const s of gt ? segs.slice(0, -1) : segs) {
      const c = n.children.get(s);
      if (!c) return;
      path.push(c);
      n = c;
    }
    if (gt ? n.rest === undefined : n.here === undefined) return;
    if (gt) n.rest = undefined; else n.here = undefined;
    this.count--;
    // Prune empty nodes bottom-up.
    const names = gt ? segs.slice(0, -1) : segs;
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i]!;
      if (node.here !== undefined || node.rest !== undefined || node.children.size) break;
      path[i - 1]!.children.delete(names[i - 1]!);
    }
  }

  /** The values of every pattern matching topic path `topic` (each once). */
  match(topic: string): T[] {
    const out: T[] = [];
    if (this.count === 0) return out;
    const t = topic.split('.');
    const walk = (n: PatternNode<T>, i: number) => {
      if (n.rest !== undefined) out.push(n.rest); // '>' takes what is left, nothing included
      if (i === t.length) {
        if (n.here !== undefined) out.push(n.here);
        return;
      }
      const lit = n.children.get(t[i]!);
      if (lit) walk(lit, i + 1);
      const star = n.children.get('*');
      if (star && star !== lit) walk(star, i + 1);
    };
    if (dollar(t[0])) {
      // [MQTT-4.7.2-1]: no pattern starting with a wildcard reaches a $ topic.
      const lit = this.root.children.get(t[0]!);
      if (lit) walk(lit, 1);
      return out;
    }
    walk(this.root, 0);
    return out;
  }
}

interface TopicNode<T> {
  children: Map<string, TopicNode<T>>;
  value: T | undefined;
}

const topicNode = <T>(): TopicNode<T> => ({ children: new Map(), value: undefined });

/**
 * Topic names, each with one value (retained messages), in a segment trie: match(pattern)
 * follows a literal segment to one child, `*` to every child, `>` to the whole subtree, so a
 * subscription to `a.b.*` reads the `a.b` branch only, not every retained topic.
 */
export class TopicTrie<T> {
  private readonly root = topicNode<T>();
  private count = 0;

  get size(): number { return this.count; }

  get(topic: string): T | undefined {
    let n: TopicNode<T> | undefined = this.root;
    for (const s of topic.split('.')) {
      n = n.children.get(s);
      if (!n) return undefined;
    }
    return n.value;
  }

  set(topic: string, value: T): void {
    let n = this.root;
    for (const s of topic.split('.')) {
      let c = n.children.get(s);
      if (!c) { c = topicNode<T>(); n.children.set(s, c); }
      n = c;
    }
    if (n.value === undefined) this.count++;
    n.value = value;
  }

  delete(topic: string): T | undefined {
    const segs = topic.split('.');
    const path: TopicNode<T>[] = [this.root];
    let n = this.root;
    for (const s of segs) {
      const c = n.children.get(s);
      if (!c) return undefined;
      path.push(c);
      n = c;
    }
    const old = n.value;
    if (old === undefined) return undefined;
    n.value = undefined;
    this.count--;
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i]!;
      if (node.value !== undefined || node.children.size) break;
      path[i - 1]!.children.delete(segs[i - 1]!);
    }
    return old;
  }

  /** Every value ($ topics included). */
  values(): T[] {
    const out: T[] = [];
    const all = (n: TopicNode<T>) => {
      if (n.value !== undefined) out.push(n.value);
      for (const c of n.children.values()) all(c);
    };
    all(this.root);
    return out;
  }

  /** Values of the topics a pattern (or an exact name) matches, the `$` rule included. */
  match(pattern: string): T[] {
    const out: T[] = [];
    if (this.count === 0) return out;
    const p = pattern.split('.');
    const all = (n: TopicNode<T>) => {
      if (n.value !== undefined) out.push(n.value);
      for (const c of n.children.values()) all(c);
    };
    const walk = (n: TopicNode<T>, i: number) => {
      if (i === p.length) {
        if (n.value !== undefined) out.push(n.value);
        return;
      }
      const s = p[i]!;
      if (s === '>') {
        // zero segments (the node itself, unless it is the root: no topic is empty) or more
        if (n === this.root) {
          for (const [name, c] of n.children) if (!dollar(name)) all(c);
        } else all(n);
        return;
      }
      if (s === '*') {
        for (const [name, c] of n.children) if (!(i === 0 && dollar(name))) walk(c, i + 1);
        return;
      }
      const c = n.children.get(s);
      if (c) walk(c, i + 1);
    };
    walk(this.root, 0);
    return out;
  }
}
