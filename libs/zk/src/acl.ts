// ZooKeeper digest ACLs for Hawser's znodes (ActiveMQ's zkPassword). With zk.auth
// "user:password" every service authenticates its session (addAuthInfo digest) and every znode
// Hawser creates carries:
//   digest:user:<base64 sha1("user:password")>  all rights (read, write, create, delete, admin)
//   world:anyone                                read
// Read stays open on purpose: the znodes hold addresses, pids, roles and epochs (no secret), and
// operators, zkCli and monitoring read them without the password; nothing without the digest
// may create, change or delete one.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, str } from '@hawser/config';

export interface AclEntry { perms: number; scheme: string; auth: string }
export type Acl = AclEntry[];

// zookeeper.h ZOO_PERM_*
export const PERM = { READ: 1, WRITE: 2, CREATE: 4, DELETE: 8, ADMIN: 16, ALL: 31 } as const;

/** "user:password" -> "user:<base64 sha1>" (ZooKeeper's DigestAuthenticationProvider.generateDigest). */
export function digestId(auth: string): string {
  const colon = auth.indexOf(':');
  const user = auth.slice(0, colon);
  return `${user}:${createHash('sha1').update(auth).digest('base64')}`;
}

/** Checks a zk.auth value: "user:password", both non-empty. Returns the problem or null. */
export function authProblem(auth: string): string | null {
  const colon = auth.indexOf(':');
  if (colon <= 0 || colon === auth.length - 1) return 'expected user:password (both non-empty)';
  return null;
}

/** The ACL of a znode Hawser creates when zk.auth is set. */
export function aclFor(auth: string): Acl {
  return [
    { perms: PERM.ALL, scheme: 'digest', auth: digestId(auth) },
    { perms: PERM.READ, scheme: 'world', auth: 'anyone' },
  ];
}

export function sameAcl(a: Acl, b: Acl): boolean {
  const key = (x: Acl) => x.map((e) => `${e.scheme}:${e.auth}:${e.perms}`).sort().join('|');
  return key(a) === key(b);
}

/**
 * A zk.auth value as configured: "user:password", or "file:<path>" naming a file that holds it
 * (a mounted secret). Returns the credentials, or the problem to report under the key.
 */
export function resolveAuth(value: string, read: (path: string) => string): { auth: string } | { problem: string } {
  let auth = value;
  if (value.startsWith('file:')) {
    try {
      auth = read(value.slice(5)).trim();
    } catch (e) {
      return { problem: `cannot read ${value.slice(5)}: ${(e as Error).message}` };
    }
  }
  if (!auth) return { auth: '' };
  const p = authProblem(auth);
  return p ? { problem: value.startsWith('file:') ? `${value.slice(5)}: ${p}` : p } : { auth };
}

/** The `zk.auth` key every service that talks to ZooKeeper has (same doc everywhere). */
export const zkAuthField = str('', 'ZooKeeper digest credentials "user:password" (ActiveMQ zkPassword), or "file:<path>" of a file holding them: sessions authenticate and every znode Hawser creates gets digest(user) = all rights, world = read; empty: open ACLs');

let processAuth: { auth: string; root: string } | null = null;

/**
 * Sets this process's ZooKeeper credentials (a service's main, once): every ZkClient it
 * connects authenticates with them and secures the znodes it creates under `root` (zk.path).
 * Throws a ConfigError naming `key` for a malformed value or an unreadable file.
 */
export function useZkAuth(value: string, root: string, key = 'zk.auth'): void {
  const r = resolveAuth(value, (path) => readFileSync(path, 'utf8'));
  if ('problem' in r) throw new ConfigError(key, r.problem);
  processAuth = r.auth ? { auth: r.auth, root } : null;
}

/** This process's ZooKeeper credentials (useZkAuth), or null. */
export function zkAuth(): { auth: string; root: string } | null { return processAuth; }
