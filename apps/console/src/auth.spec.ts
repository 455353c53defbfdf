import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '@hawser/security';
import { AuthError, checkSameOrigin, ConsoleAuth, COOKIE, cookieOf, CSRF_HEADER } from './auth';

const CHEAP = { log2N: 10, r: 8, p: 1 };
const HOST = '127.0.0.1:8161';
const req = (headers: Record<string, string>): IncomingMessage => ({ headers } as unknown as IncomingMessage);

async function files(): Promise<{ dir: string; opts: ConstructorParameters<typeof ConsoleAuth>[0] }> {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-console-auth-'));
  writeFileSync(join(dir, 'users'), `ann=${await hashPassword('ann-pw', CHEAP)}\nvic=${await hashPassword('vic-pw', CHEAP)}\n`);
  writeFileSync(join(dir, 'groups'), 'admins=ann\nviewers=vic\n');
  writeFileSync(join(dir, 'acl'), 'queue > admins,viewers admins admins\nqueue shared.> * * viewers\n');
  return {
    dir,
    opts: { usersFile: join(dir, 'users'), groupsFile: join(dir, 'groups'), authorizationFile: join(dir, 'acl'), sessionTtlMs: 60_000, maxFailures: 2, failureWindowMs: 60_000, secureCookie: false },
  };
}

test('login makes an HttpOnly SameSite=Strict session; admin follows the authorization map; logout ends it', async () => {
  const { dir, opts } = await files();
  try {
    let now = 1_000_000;
    const auth = new ConsoleAuth({ ...opts, now: () => now });
    assert.ok(auth.required);
    assert.equal(auth.session(req({})), null);
    assert.throws(() => auth.reader(req({})), (e: AuthError) => e.status === 401);
    const s = await auth.login('ann', 'ann-pw', '10.0.0.1');
    assert.deepEqual(s.principal, { login: 'ann', groups: ['admins'] });
    const cookie = auth.cookie(s);
    assert.match(cookie, new RegExp(`^${COOKIE}=${s.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=60$`));
    const withCookie = req({ cookie: `other=1; ${COOKIE}=${s.id}` });
    assert.equal(auth.session(withCookie)?.principal.login, 'ann');
    assert.ok(auth.canAdmin(s, '/queue/orders'));
    assert.ok(auth.canAdmin(s, '/queue/shared.x'), 'union of the entries: admins via >');
    const v = await auth.login('vic', 'vic-pw', '10.0.0.1');
    assert.ok(!auth.canAdmin(v, '/queue/orders'));
    assert.ok(auth.canAdmin(v, '/queue/shared.x'));
    assert.throws(() => auth.requireAdmin(v, '/queue/orders'), /user 'vic' may not administer \/queue\/orders \(groups: viewers\)/);
    assert.ok(!auth.canAdmin(v, '/topic/nothing-matches'), 'no entry: refused');
    // sliding expiry
    now += 59_000;
    assert.ok(auth.session(withCookie));
    now += 61_000;
    assert.equal(auth.session(withCookie), null);
    auth.logout(req({ cookie: `${COOKIE}=${v.id}` }));
    assert.equal(auth.session(req({ cookie: `${COOKIE}=${v.id}` })), null);
    assert.match(auth.cookie(null), /Max-Age=0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('wrong passwords fail, then the address is throttled', async () => {
  const { dir, opts } = await files();
  try {
    const auth = new ConsoleAuth(opts);
    const seen: string[] = [];
    auth.onLogin = (r) => seen.push(r);
    await assert.rejects(auth.login('ann', 'nope', '10.0.0.2'), (e: AuthError) => e.status === 401 && /login failed/.test(e.message));
    await assert.rejects(auth.login('nobody', 'x', '10.0.0.2'), (e: AuthError) => e.status === 401);
    await assert.rejects(auth.login('ann', 'ann-pw', '10.0.0.2'), (e: AuthError) => e.status === 429);
    assert.deepEqual(seen, ['failed', 'failed', 'throttled']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a POST needs JSON, the same origin and the session\'s CSRF token', async () => {
  const { dir, opts } = await files();
  try {
    const auth = new ConsoleAuth(opts);
    const s = await auth.login('ann', 'ann-pw', '10.0.0.3');
    const base = { cookie: `${COOKIE}=${s.id}`, 'content-type': 'application/json', host: HOST };
    assert.equal(auth.writer(req({ ...base, [CSRF_HEADER]: s.csrf, origin: `http://${HOST}`, 'sec-fetch-site': 'same-origin' }), HOST).id, s.id);
    const refused = (h: Record<string, string>, why: RegExp) => assert.throws(() => auth.writer(req(h), HOST), (e: AuthError) => e.status === 403 && why.test(e.message));
    refused({ ...base }, /x-hawser-csrf/);
    refused({ ...base, [CSRF_HEADER]: 'x'.repeat(s.csrf.length) }, /x-hawser-csrf/);
    refused({ ...base, [CSRF_HEADER]: s.csrf, 'content-type': 'text/plain' }, /application\/json/);
    refused({ ...base, [CSRF_HEADER]: s.csrf, origin: 'http://evil.example' }, /cross-origin/);
    refused({ ...base, [CSRF_HEADER]: s.csrf, 'sec-fetch-site': 'cross-site' }, /cross-site/);
    assert.throws(() => auth.writer(req({ 'content-type': 'application/json', [CSRF_HEADER]: s.csrf }), HOST), (e: AuthError) => e.status === 401);
    assert.doesNotThrow(() => checkSameOrigin(req({ 'content-type': 'application/json; charset=utf-8' }), HOST));
    assert.equal(cookieOf(req({ cookie: 'a=1;b=2' }), 'b'), '2');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a users file there is no login and everyone may act (the token still guards POSTs)', () => {
  const auth = new ConsoleAuth({ usersFile: '', groupsFile: '', authorizationFile: '', sessionTtlMs: 60_000, maxFailures: 5, failureWindowMs: 60_000, secureCookie: false });
  assert.ok(!auth.required);
  const s = auth.session(req({}))!;
  assert.ok(auth.canAdmin(s, '/queue/x'));
  assert.throws(() => auth.writer(req({ 'content-type': 'application/json' }), HOST), /x-hawser-csrf/);
  assert.ok(auth.writer(req({ 'content-type': 'application/json', [CSRF_HEADER]: s.csrf }), HOST));
  return assert.rejects(auth.login('a', 'b', '1.2.3.4'), (e: AuthError) => e.status === 403);
});
