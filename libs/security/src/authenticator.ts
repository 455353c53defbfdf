// Who is connecting: checks a login and passcode (or a verified client certificate) against
// the user base and gives the session its principal. Failed logins are counted per remote
// address; past the limit the address is refused without a check until the window passes.
// Successful checks are remembered (an HMAC of login and passcode, compared in constant
// time), so a reconnect storm after a failover does not cost one scrypt per client.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from './acl';
import { hashPassword, parseHash, verifyPassword } from './passwords';
import type { UserBase } from './users';

export interface Credentials {
  login: string;
  passcode: string;
  /** Remote address (host, no port): the key of failed-login throttling. */
  remote: string;
  /** The login a verified client certificate maps to (its subject CN), when the transport has one. */
  certificateLogin?: string;
}

export type LoginFailure = 'LOGIN_FAILED' | 'LOGIN_THROTTLED';

export class LoginError extends Error {
  constructor(readonly code: LoginFailure, message: string) {
    super(message);
    this.name = 'LoginError';
  }
}

export interface AuthenticatorOptions {
  /** The user base (re-read by UsersFiles); undefined: no users, anonymous only. */
  users?: () => UserBase;
  anonymous: boolean;
  /** Groups of an anonymous session (ActiveMQ's anonymousGroup). */
  anonymousGroups: readonly string[];
  /** Failed logins allowed per remote address within failureWindowMs. */
  maxFailures: number;
  failureWindowMs: number;
  now?: () => number;
}

export type LoginResult = 'ok' | 'anonymous' | 'certificate' | 'failed' | 'throttled';

const MAX_TRACKED = 10_000;

export class Authenticator {
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly verified = new Map<string, { hash: string; mac: Buffer }>();
  private readonly secret = randomBytes(32);
  private dummy: Promise<string> | undefined;
  private readonly now: () => number;
  /** Called once per attempt (metrics). */
  onResult: (result: LoginResult) => void = () => {};

  constructor(private readonly opts: AuthenticatorOptions) {
    this.now = opts.now ?? Date.now;
  }

  get anonymousAllowed(): boolean { return this.opts.anonymous; }

  async authenticate(c: Credentials): Promise<Principal> {
    const throttled = this.throttledFor(c.remote);
    if (throttled > 0) {
      this.onResult('throttled');
      throw new LoginError('LOGIN_THROTTLED', `too many failed logins from ${c.remote}: retry in ${Math.ceil(throttled / 1000)} s`);
    }
    const base = this.opts.users?.();
    const groupsOf = (login: string): readonly string[] => base?.groups.get(login) ?? [];
    if (c.login === '' && c.certificateLogin !== undefined && base?.users.has(c.certificateLogin)) {
      this.onResult('certificate');
      return { login: c.certificateLogin, groups: groupsOf(c.certificateLogin) };
    }
    // Without a user base nothing can be checked: credentials a client sends anyway (many send
    // defaults) are not believed, and the session is anonymous (ActiveMQ without an
    // authentication plugin accepts them the same way).
    if ((c.login === '' && c.passcode === '') || !base) {
      if (this.opts.anonymous) {
        this.onResult('anonymous');
        return { login: '', groups: this.opts.anonymousGroups };
      }
      return this.fail(c, 'anonymous access is off: connect with a login and passcode');
    }
    const hash = base?.users.get(c.login);
    if (hash === undefined) {
      // Same work as for a known user: the answer time does not tell which logins exist.
      this.dummy ??= hashPassword(randomBytes(8).toString('hex'));
      await verifyPassword(await this.dummy, c.passcode);
      return this.fail(c, 'login failed');
    }
    const mac = createHmac('sha256', this.secret).update(c.login).update('\u0000').update(c.passcode).digest();
    const known = this.verified.get(c.login);
    let ok: boolean;
    // A wrong passcode for a remembered user takes the full check too: same time either way.
    if (known && known.hash === hash && timingSafeEqual(known.mac, mac)) ok = true;
    else {
      ok = await verifyPassword(parseHash(hash), c.passcode);
      if (ok) {
        if (this.verified.size >= MAX_TRACKED) this.verified.delete(this.verified.keys().next().value!);
        this.verified.set(c.login, { hash, mac });
      }
    }
    if (!ok) return this.fail(c, 'login failed');
    this.failures.delete(c.remote);
    this.onResult('ok');
    return { login: c.login, groups: groupsOf(c.login) };
  }

  /** ms the address must still wait, 0 when it may try. */
  private throttledFor(remote: string): number {
    const f = this.failures.get(remote);
    if (!f) return 0;
    const left = f.since + this.opts.failureWindowMs - this.now();
    if (left <= 0) { this.failures.delete(remote); return 0; }
    return f.count >= this.opts.maxFailures ? left : 0;
  }

  private fail(c: Credentials, message: string): never {
    const now = this.now();
    const f = this.failures.get(c.remote);
    if (f && now - f.since < this.opts.failureWindowMs) f.count++;
    else {
      this.failures.delete(c.remote);
      if (this.failures.size >= MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
      this.failures.set(c.remote, { count: 1, since: now });
    }
    this.onResult('failed');
    throw new LoginError('LOGIN_FAILED', message);
  }
}
