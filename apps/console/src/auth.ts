// Who uses the console and what they may do.
//
// - Login (when auth.usersFile is set): the same users and groups files as the gateways, checked
//   by @hawser/security's Authenticator (scrypt, throttling per remote address). A login makes a
//   session: a random 256-bit id in a cookie (HttpOnly, SameSite=Strict, Path=/), kept in memory
//   with a sliding expiry. Restarting the console logs everyone out.
// - CSRF: every state-changing request (POST) must carry the session's CSRF token in the
//   X-Hawser-CSRF header (the page reads it from GET /api/session; another site cannot read it),
//   be JSON (a cross-site form cannot send application/json without a CORS preflight, which the
//   console never grants), and come from the console's own origin when the browser says where it
//   comes from (Origin / Sec-Fetch-Site). SameSite=Strict keeps the cookie off cross-site requests.
// - What a user may do: see everything; act (purge, send, move, delete) on a destination only with
//   the `admin` permission the authorization map (authorization.file, the stores' own format)
//   gives their groups. Without a users file there is no login and everyone who reaches the
//   console may act (bind it to loopback, as by default).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Authenticator, AuthorizationMap, LoginError, UsersFiles, type Principal } from '@hawser/security';

export const COOKIE = 'hawser_console';
export const CSRF_HEADER = 'x-hawser-csrf';

export interface ConsoleSession {
  id: string;
  csrf: string;
  principal: Principal;
  expires: number;
}

export class AuthError extends Error {
  constructor(readonly status: 401 | 403 | 429, readonly code: string, message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

export interface AuthOptions {
  usersFile: string;
  groupsFile: string;
  authorizationFile: string;
  sessionTtlMs: number;
  maxFailures: number;
  failureWindowMs: number;
  secureCookie: boolean;
  onError?: (e: Error) => void;
  now?: () => number;
}

/** The authorization map, re-read when its file changes (at most once a second), as the stores do. */
class MapFile {
  private map: AuthorizationMap;
  private stamp = '';
  private checkedAt = 0;
  constructor(private readonly path: string, private readonly onError: (e: Error) => void) {
    this.stamp = this.readStamp();
    this.map = AuthorizationMap.parse(readFileSync(path, 'utf8'), path);
  }
  private readStamp(): string {
    try { const s = statSync(this.path); return `${s.mtimeMs}:${s.size}`; } catch { return 'missing'; }
  }
  current(now: number): AuthorizationMap {
    if (now - this.checkedAt < 1_000) return this.map;
    this.checkedAt = now;
    const stamp = this.readStamp();
    if (stamp !== this.stamp) {
      this.stamp = stamp;
      try { this.map = AuthorizationMap.parse(readFileSync(this.path, 'utf8'), this.path); } catch (e) { this.onError(e as Error); }
    }
    return this.map;
  }
}

export class ConsoleAuth {
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly authenticator: Authenticator | null;
  private readonly map: MapFile | null;
  private readonly now: () => number;
  /** The CSRF token of a console without login (one per process). */
  private readonly openCsrf = randomBytes(32).toString('base64url');
  onLogin: (result: 'ok' | 'failed' | 'throttled') => void = () => {};

  constructor(private readonly o: AuthOptions) {
    this.now = o.now ?? Date.now;
    const onError = o.onError ?? (() => {});
    if (o.usersFile) {
      const files = new UsersFiles(o.usersFile, o.groupsFile, onError);
      this.authenticator = new Authenticator({
        users: () => files.current(), anonymous: false, anonymousGroups: [], maxFailures: o.maxFailures, failureWindowMs: o.failureWindowMs, now: this.now,
      });
    } else this.authenticator = null;
    this.map = o.authorizationFile ? new MapFile(o.authorizationFile, onError) : null;
  }

  /** Whether the console asks for a login. */
  get required(): boolean { return this.authenticator !== null; }

  async login(login: string, password: string, remote: string): Promise<ConsoleSession> {
    if (!this.authenticator) throw new AuthError(403, 'NO_LOGIN', 'this console has no users file: there is nothing to log in to');
    let principal: Principal;
    try {
      principal = await this.authenticator.authenticate({ login, passcode: password, remote });
    } catch (e) {
      if (e instanceof LoginError) {
        this.onLogin(e.code === 'LOGIN_THROTTLED' ? 'throttled' : 'failed');
        throw new AuthError(e.code === 'LOGIN_THROTTLED' ? 429 : 401, e.code, e.message);
      }
      throw e;
    }
    this.onLogin('ok');
    this.sweep();
    const s: ConsoleSession = {
      id: randomBytes(32).toString('base64url'),
      csrf: randomBytes(32).toString('base64url'),
      principal: { login: principal.login, groups: [...principal.groups] },
      expires: this.now() + this.o.sessionTtlMs,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  logout(req: IncomingMessage): void {
    const id = cookieOf(req, COOKIE);
    if (id) this.sessions.delete(id);
  }

  /** The request's session (sliding expiry), or null: not logged in. Without a users file: an open session. */
  session(req: IncomingMessage): ConsoleSession | null {
    if (!this.authenticator) return { id: '', csrf: this.openCsrf, principal: { login: '', groups: [] }, expires: Infinity };
    const id = cookieOf(req, COOKIE);
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    const now = this.now();
    if (s.expires <= now) { this.sessions.delete(id); return null; }
    s.expires = now + this.o.sessionTtlMs;
    return s;
  }

  /** The session of a request that reads; throws 401 without one. */
  reader(req: IncomingMessage): ConsoleSession {
    const s = this.session(req);
    if (!s) throw new AuthError(401, 'LOGIN_REQUIRED', 'log in first');
    return s;
  }

  /** The session of a state-changing request: logged in, same origin, JSON, the right CSRF token. */
  writer(req: IncomingMessage, host: string): ConsoleSession {
    checkSameOrigin(req, host);
    const s = this.reader(req);
    const token = req.headers[CSRF_HEADER];
    if (typeof token !== 'string' || !safeEqual(token, s.csrf)) {
      throw new AuthError(403, 'CSRF', `missing or wrong ${CSRF_HEADER} header: reload the page`);
    }
    return s;
  }

  /** May this user act (purge, send, move, delete) on `destination`? */
  canAdmin(s: ConsoleSession, destination: string): boolean {
    if (!this.authenticator) return true;
    if (!this.map) return true;
    return this.map.current(this.now()).can(s.principal, 'admin', destination);
  }

  /** Throws 403 unless the user has `admin` on `destination`. */
  requireAdmin(s: ConsoleSession, destination: string): void {
    if (!this.canAdmin(s, destination)) {
      throw new AuthError(403, 'FORBIDDEN', `user '${s.principal.login}' may not administer ${destination} (groups: ${s.principal.groups.join(',') || 'none'}): ask for the admin permission in the authorization map`);
    }
  }

  /** Set-Cookie for a new session (or to clear one: `null`). */
  cookie(s: ConsoleSession | null): string {
    const secure = this.o.secureCookie ? '; Secure' : '';
    if (!s) return `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure}`;
    return `${COOKIE}=${s.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(this.o.sessionTtlMs / 1000)}${secure}`;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expires <= now) this.sessions.delete(id);
  }
}

export function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A POST must be JSON and, when the browser names its origin, come from the console's own. */
export function checkSameOrigin(req: IncomingMessage, host: string): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AuthError(403, 'CSRF', 'state-changing requests must be application/json');
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') throw new AuthError(403, 'CSRF', `cross-site request refused (Sec-Fetch-Site: ${site})`);
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    let originHost: string;
    try { originHost = new URL(origin).host; } catch { throw new AuthError(403, 'CSRF', `bad Origin header '${origin}'`); }
    if (originHost !== host) throw new AuthError(403, 'CSRF', `cross-origin request from ${origin} refused`);
  }
}
