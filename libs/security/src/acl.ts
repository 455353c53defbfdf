// The authorization map (ActiveMQ's authorizationMap): for each destination pattern, the groups
// that may read it (subscribe), write it (send) and administer it (purge, browse, delete).
// Pure: text in, decisions out. The store asks it for every SEND and SUBSCRIBE of every session,
// whatever protocol or service opened it (docs/security.md).
//
// File format, one entry per line (blank lines and # comments ignored):
//
//   # kind  pattern     read           write          admin
//   queue   >           admins         admins         admins
//   queue   orders.>    shop,admins    shop           admins
//   topic   prices.*    *              feeds          admins
//
// kind: queue | topic | temp. Pattern: ActiveMQ's wildcards over '.'-separated segments — `*` is one
// segment, `>` the rest of the name (one segment or more; `>` alone is every name). Group
// columns: comma-separated group names, `*` (everyone, anonymous included) or `-` (nobody).
// A destination's groups for an action are the union of every matching entry's (as ActiveMQ's
// DefaultAuthorizationMap); a destination no entry matches is refused.
//
// kind temp is ActiveMQ's tempDestinationAuthorizationEntry: one line, pattern `>`, for every
// temporary queue and topic (/temp-queue/..., /temp-topic/...): write = send to one, read =
// consume one's own, admin = make one. A map without a temp line lets every session use temp
// destinations (as ActiveMQ without that entry); only their own connection ever consumes them.
//
//   temp    >           *              *              app,admins

export type Action = 'read' | 'write' | 'admin';
export const ACTIONS: readonly Action[] = ['read', 'write', 'admin'];

/** Who a session belongs to: set once, at connect, by the session layer. */
export interface Principal {
  /** '' for an anonymous client. */
  login: string;
  groups: readonly string[];
}

export interface AclEntry {
  kind: 'queue' | 'topic' | 'temp';
  pattern: string;
  read: readonly string[];
  write: readonly string[];
  admin: readonly string[];
}

export class AclSyntaxError extends Error {
  readonly code = 'BAD_ACL';
  constructor(readonly source: string, readonly line: number, message: string) {
    super(`${source}:${line}: ${message}`);
    this.name = 'AclSyntaxError';
  }
}

const EVERYONE = '*';
const NOBODY = '-';
/** Decisions remembered per (action, destination); cleared when full (bounded memory). */
const CACHE_MAX = 10_000;

/** True when `name` ('a.b.c') matches `pattern` ('a.*.c', 'a.>', '>'). */
export function matchesPattern(pattern: string, name: string): boolean {
  const p = pattern.split('.');
  const n = name.split('.');
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    if (seg === '>') return i < n.length; // the rest: one segment or more
    if (i >= n.length) return false;
    if (seg !== '*' && seg !== n[i]) return false;
  }
  return p.length === n.length;
}

function parseGroups(text: string, source: string, line: number): string[] {
  if (text === NOBODY) return [];
  const groups = text.split(',').map((g) => g.trim());
  if (groups.some((g) => g === '')) throw new AclSyntaxError(source, line, `empty group name in "${text}": list groups separated by commas, or write * (everyone) or - (nobody)`);
  return groups;
}

export function parseAcl(text: string, source = 'authorization'): AclEntry[] {
  const entries: AclEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const cols = line.split(/\s+/);
    if (cols.length !== 5) {
      throw new AclSyntaxError(source, i + 1, `expected 5 columns "kind pattern read write admin", got ${cols.length}: ${JSON.stringify(raw.trim())}`);
    }
    const [kind, pattern, read, write, admin] = cols as [string, string, string, string, string];
    if (kind !== 'queue' && kind !== 'topic' && kind !== 'temp') throw new AclSyntaxError(source, i + 1, `kind must be queue, topic or temp, got ${JSON.stringify(kind)}`);
    if (kind === 'temp' && pattern !== '>') throw new AclSyntaxError(source, i + 1, `a temp entry covers every temporary destination: its pattern must be >, got ${JSON.stringify(pattern)}`);
    const segs = pattern.split('.');
    if (segs.some((s) => s === '')) throw new AclSyntaxError(source, i + 1, `pattern ${JSON.stringify(pattern)} has an empty segment`);
    if (segs.slice(0, -1).includes('>')) throw new AclSyntaxError(source, i + 1, `pattern ${JSON.stringify(pattern)}: '>' may only be the last segment`);
    entries.push({ kind, pattern, read: parseGroups(read, source, i + 1), write: parseGroups(write, source, i + 1), admin: parseGroups(admin, source, i + 1) });
  });
  return entries;
}

/** Splits '/queue/a.b' into its kind and name ('/temp-queue/..', '/temp-topic/..': kind temp); null for anything else. */
function splitDestination(destination: string): { kind: 'queue' | 'topic' | 'temp'; name: string } | null {
  const m = /^\/(queue|topic|temp-queue|temp-topic)\/(.+)$/s.exec(destination);
  if (!m) return null;
  return { kind: m[1]!.startsWith('temp-') ? 'temp' : m[1] as 'queue' | 'topic', name: m[2]! };
}

export class AuthorizationMap {
  private readonly cache = new Map<string, ReadonlySet<string>>();

  constructor(readonly entries: readonly AclEntry[]) {}

  static parse(text: string, source?: string): AuthorizationMap {
    return new AuthorizationMap(parseAcl(text, source));
  }

  /** The groups allowed `action` on `destination` ('/queue/x' or '/topic/x'); '*' means everyone. */
  groupsFor(action: Action, destination: string): ReadonlySet<string> {
    const key = `${action}\u0000${destination}`;
    let groups = this.cache.get(key);
    if (groups) return groups;
    const d = splitDestination(destination);
    const set = new Set<string>();
    if (d?.kind === 'temp' && !this.entries.some((e) => e.kind === 'temp')) set.add(EVERYONE);
    else if (d) {
      for (const e of this.entries) {
        if (e.kind === d.kind && matchesPattern(e.pattern, d.name)) for (const g of e[action]) set.add(g);
      }
    }
    groups = set;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(key, groups);
    return groups;
  }

  can(principal: Principal, action: Action, destination: string): boolean {
    const groups = this.groupsFor(action, destination);
    if (groups.has(EVERYONE)) return true;
    for (const g of principal.groups) if (groups.has(g)) return true;
    return false;
  }
}
