// Duplicate detection by message id, scoped so that one producer cannot suppress another's
// messages (ActiveMQ's producer audit keys by producer id + sequence; here the key is the
// producing principal + destination + message id).
//
// What dedup is for, and what the scope keeps of it:
//   - the gateway resends SENDs that had no receipt when their master went away, with the
//     same message id, on a new session of the same login: same scope, dropped;
//   - a bridge forwards with the source message id; every bridge (network) session shares one
//     scope, so forwarded copies dedupe among themselves per destination (a mesh path that
//     brings a publication twice) whatever bridge or path brought them.
// A client that pre-sends another login's ids only fills its own scope.
//
// Bounded: the keys of the last `max` persistent SENDs (broker.dedupWindow, as before scopes),
// and of those at most `maxPerScope` per scope (a scope over it forgets its own oldest: one
// producer cannot hold the whole window); ids over MAX_MESSAGE_ID_BYTES are refused at the
// SEND (core.ts). What a producer sends past the window pushes everybody's older ids out, as
// on any busy broker: the window is sized for the resends of a failover (seconds of traffic).
//
// Deterministic: the window after a sequence of add()s depends only on that sequence, and is
// the same when rebuilt from any suffix of it holding the last `max` keys (what the store keeps
// on disk, x\0 records): a replica that applies the same entries, a restarted store and a
// promoted slave agree.

/** Longest message id a SEND may carry (bytes, UTF-8). The gateway caps it too; the store defends itself. */
export const MAX_MESSAGE_ID_BYTES = 256;

/** Scope of every bridge (Open.network) session. */
export const NETWORK_SCOPE = 'n:';

/** Dedup scope of a session: its login (length-prefixed, so no login can forge another's key), or the bridges' scope. */
export function dedupScope(open: { login?: string; network?: boolean }): string {
  if (open.network) return NETWORK_SCOPE;
  const login = open.login ?? '';
  return `u${login.length}:${login}`;
}

/**
 * The window key of a message. Scope '' is an entry made before scopes existed (its key is the
 * bare id, as the x\0 records of that time hold).
 */
export function dedupKey(scope: string, destination: string, id: string): string {
  // join() builds one flat string; `${a}\0${b}\0${c}` would be a tree of concatenations that
  // the window's Map keeps whole (five heap objects a key, each marked by every full GC).
  return scope ? [scope, destination, id].join('\u0000') : id;
}

/** The scope a key was made with (recovery reads keys back from disk). */
export function scopeOfKey(key: string): string {
  if (key.startsWith(NETWORK_SCOPE + '\u0000')) return NETWORK_SCOPE;
  const m = /^u(\d+):/.exec(key);
  if (!m) return '';
  const end = m[0].length + Number(m[1]);
  return key.charCodeAt(end) === 0 ? key.slice(0, end) : '';
}

interface Scope { name: string; keys: Array<string | undefined>; head: number }

export class DedupWindow {
  /**
   * Every remembered key with its number among all add()s. A number, not an entry object: a
   * full window is 100,000 keys (broker.dedupWindow), and each object a key keeps is one more
   * for every full GC to mark (docs/benchmarks.md, Session 23).
   */
  private readonly keys = new Map<string, number>();
  /**
   * The keys oldest first (from `head`), with their numbers and scopes in parallel arrays. A key
   * its scope evicted stays until it reaches the front, and is known to be gone there by `keys`
   * no longer holding it with that number. Not the Map's own order: V8 leaves a deleted Map
   * entry as a hole until the table is rebuilt, so `keys.keys().next()` walked every hole at the
   * front on each add (~60 µs an add once the window was full: 4% of a master's CPU, 12% of a
   * slave's).
   */
  private orderKeys: string[] = [];
  private orderN: number[] = [];
  private orderScope: Scope[] = [];
  private head = 0;
  private readonly scopes = new Map<string, Scope>();
  /** add()s so far. */
  private added = 0;

  constructor(private readonly max: number, private readonly maxPerScope: number = max) {}

  get size(): number { return this.keys.size; }
  /** Scopes with at least one key. */
  get scopeCount(): number { return this.scopes.size; }

  has(key: string): boolean { return this.keys.has(key); }

  add(key: string, scope: string = scopeOfKey(key)): void {
    const n = ++this.added;
    if (this.keys.has(key)) return;
    let s = this.scopes.get(scope);
    if (!s) {
      s = { name: scope, keys: [], head: 0 };
      this.scopes.set(scope, s);
    }
    s.keys.push(key);
    this.keys.set(key, n);
    this.orderKeys.push(key);
    this.orderN.push(n);
    this.orderScope.push(s);
    if (s.keys.length - s.head > this.maxPerScope) this.evictOldestOf(s);
    // Only keys of the last `max` add()s: the store keeps exactly those on disk (x\0 records),
    // so a window rebuilt from disk is this one.
    for (;;) {
      while (this.head < this.orderKeys.length && this.keys.get(this.orderKeys[this.head]!) !== this.orderN[this.head]) this.head++;
      if (this.head === this.orderKeys.length || this.orderN[this.head]! > n - this.max) break;
      this.evictOldestOf(this.orderScope[this.head]!);
    }
    if (this.head > 1024 && this.head * 2 > this.orderKeys.length) {
      this.orderKeys = this.orderKeys.slice(this.head);
      this.orderN = this.orderN.slice(this.head);
      this.orderScope = this.orderScope.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * A scope's keys are kept in arrival order and only ever leave from the front, so the
   * oldest key overall is also the front of its own scope.
   */
  private evictOldestOf(s: Scope): void {
    const k = s.keys[s.head];
    s.keys[s.head++] = undefined;
    if (k !== undefined) this.keys.delete(k);
    if (s.head === s.keys.length) this.scopes.delete(s.name);
    else if (s.head > 1024 && s.head * 2 > s.keys.length) {
      s.keys = s.keys.slice(s.head);
      s.head = 0;
    }
  }
}
