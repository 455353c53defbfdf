// The users and groups files (ActiveMQ's users.properties / groups.properties idea):
//
//   users file:   <login>=scrypt$15$8$1$<salt>$<key>     (one per line; make lines with `hawser passwd`)
//   groups file:  <group>=<login>,<login>,...
//
// Blank lines and lines starting with # or ! are comments. Plaintext passwords are refused
// with the line that holds one.
import { readFileSync, statSync } from 'node:fs';
import { parseHash, PasswordHashError } from './passwords';

export class UsersFileError extends Error {
  readonly code = 'BAD_USERS_FILE';
  constructor(readonly source: string, readonly line: number, message: string) {
    super(`${source}:${line}: ${message}`);
    this.name = 'UsersFileError';
  }
}

export interface UserBase {
  /** login -> stored password hash */
  users: ReadonlyMap<string, string>;
  /** login -> its groups */
  groups: ReadonlyMap<string, readonly string[]>;
}

function properties(text: string, source: string): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('!')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new UsersFileError(source, i + 1, `expected "name=value", got ${JSON.stringify(line.slice(0, 40))}`);
    out.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim(), i + 1]);
  });
  return out;
}

export function parseUsers(text: string, source = 'users'): Map<string, string> {
  const users = new Map<string, string>();
  for (const [login, hash, line] of properties(text, source)) {
    if (users.has(login)) throw new UsersFileError(source, line, `user ${JSON.stringify(login)} is listed twice`);
    try {
      parseHash(hash);
    } catch (e) {
      if (e instanceof PasswordHashError) throw new UsersFileError(source, line, `user ${JSON.stringify(login)}: ${e.message}`);
      throw e;
    }
    users.set(login, hash);
  }
  return users;
}

/** Parses group=login,... into login -> groups. */
export function parseGroups(text: string, source = 'groups'): Map<string, string[]> {
  const byLogin = new Map<string, string[]>();
  for (const [group, members, line] of properties(text, source)) {
    for (const m of members.split(',').map((s) => s.trim())) {
      if (!m) throw new UsersFileError(source, line, `group ${JSON.stringify(group)} has an empty member name`);
      const gs = byLogin.get(m) ?? [];
      if (!gs.includes(group)) gs.push(group);
      byLogin.set(m, gs);
    }
  }
  return byLogin;
}

/**
 * The user base from files, re-read when a file changes (checked at most once a second), so an
 * operator adds a user or changes a password without a restart. A file that stops parsing keeps
 * the last good version (and reports the error through onError).
 */
export class UsersFiles {
  private base: UserBase;
  private stamp: string;
  private checkedAt = 0;

  constructor(private readonly usersPath: string, private readonly groupsPath: string, private readonly onError: (e: Error) => void = () => {}) {
    this.stamp = this.readStamp();
    this.base = this.load();
  }

  private readStamp(): string {
    return [this.usersPath, this.groupsPath].map((p) => {
      if (!p) return '';
      try { const s = statSync(p); return `${s.mtimeMs}:${s.size}`; } catch { return 'missing'; }
    }).join('|');
  }

  private load(): UserBase {
    return {
      users: parseUsers(readFileSync(this.usersPath, 'utf8'), this.usersPath),
      groups: this.groupsPath ? parseGroups(readFileSync(this.groupsPath, 'utf8'), this.groupsPath) : new Map(),
    };
  }

  current(now = Date.now()): UserBase {
    if (now - this.checkedAt < 1_000) return this.base;
    this.checkedAt = now;
    const stamp = this.readStamp();
    if (stamp !== this.stamp) {
      this.stamp = stamp;
      try { this.base = this.load(); } catch (e) { this.onError(e as Error); }
    }
    return this.base;
  }
}
