import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Authenticator, LoginError, type LoginResult } from './authenticator';
import { hashPassword, parseHash, verifyPassword, type ScryptCost } from './passwords';
import { parseGroups, parseUsers, UsersFiles, UsersFileError } from './users';

// Cheap parameters keep the spec fast; the format and the code path are the real ones.
const CHEAP: ScryptCost = { log2N: 10, r: 8, p: 1 };

test('passwords: hashed with scrypt, verified in constant time, plaintext refused', async () => {
  const h = await hashPassword('s3cret', CHEAP);
  assert.match(h, /^scrypt\$10\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(h, await hashPassword('s3cret', CHEAP), 'salted');
  assert.equal(await verifyPassword(h, 's3cret'), true);
  assert.equal(await verifyPassword(h, 's3cret '), false);
  assert.throws(() => parseHash('s3cret'), /plaintext passwords are not accepted/);
});

test('users and groups files: comments, duplicates, plaintext lines named', async () => {
  const h = await hashPassword('pw', CHEAP);
  const users = parseUsers(`# users\nann=${h}\n\n! also a comment\nbob = ${h}\n`, 'u');
  assert.deepEqual([...users.keys()], ['ann', 'bob']);
  assert.throws(() => parseUsers(`ann=${h}\nann=${h}`, 'u'), (e: unknown) => e instanceof UsersFileError && /u:2: user "ann" is listed twice/.test(e.message));
  assert.throws(() => parseUsers('ann=password', 'u'), /u:1: user "ann": not a Hawser password hash/);
  const groups = parseGroups('admins=ann\nshop=ann, bob\n');
  assert.deepEqual(groups.get('ann'), ['admins', 'shop']);
  assert.deepEqual(groups.get('bob'), ['shop']);
});

async function setup(opts: { anonymous?: boolean; now?: () => number } = {}) {
  const h = await hashPassword('pw', CHEAP);
  const base = { users: parseUsers(`ann=${h}\ncertuser=${h}`), groups: parseGroups('shop=ann,certuser') };
  const results: LoginResult[] = [];
  const auth = new Authenticator({ users: () => base, anonymous: opts.anonymous ?? false, anonymousGroups: ['anonymous'], maxFailures: 3, failureWindowMs: 60_000, now: opts.now });
  auth.onResult = (r) => results.push(r);
  return { auth, results };
}

const code = (c: string) => (e: unknown) => e instanceof LoginError && e.code === c;

test('login: right passcode gives login and groups; wrong, unknown and anonymous-off refused', async () => {
  const { auth, results } = await setup();
  assert.deepEqual(await auth.authenticate({ login: 'ann', passcode: 'pw', remote: 'a' }), { login: 'ann', groups: ['shop'] });
  // Remembered: the second check is the HMAC path, and a wrong passcode still fails.
  assert.deepEqual(await auth.authenticate({ login: 'ann', passcode: 'pw', remote: 'a' }), { login: 'ann', groups: ['shop'] });
  await assert.rejects(auth.authenticate({ login: 'ann', passcode: 'nope', remote: 'b' }), code('LOGIN_FAILED'));
  await assert.rejects(auth.authenticate({ login: 'who', passcode: 'pw', remote: 'b' }), code('LOGIN_FAILED'));
  await assert.rejects(auth.authenticate({ login: '', passcode: '', remote: 'c' }), /anonymous access is off/);
  assert.deepEqual(results, ['ok', 'ok', 'failed', 'failed', 'failed']);
});

test('anonymous when configured; a verified certificate of a known user logs in without a passcode', async () => {
  const { auth } = await setup({ anonymous: true });
  assert.deepEqual(await auth.authenticate({ login: '', passcode: '', remote: 'a' }), { login: '', groups: ['anonymous'] });
  assert.deepEqual(await auth.authenticate({ login: '', passcode: '', remote: 'a', certificateLogin: 'certuser' }), { login: 'certuser', groups: ['shop'] });
  // A certificate whose CN is not a user is just anonymous (or refused when that is off).
  assert.deepEqual(await auth.authenticate({ login: '', passcode: '', remote: 'a', certificateLogin: 'stranger' }), { login: '', groups: ['anonymous'] });
});

test('failed logins are throttled per remote address for the window, then allowed again', async () => {
  let now = 1_000_000;
  const { auth, results } = await setup({ now: () => now });
  for (let i = 0; i < 3; i++) await assert.rejects(auth.authenticate({ login: 'ann', passcode: 'x', remote: '10.0.0.9' }), code('LOGIN_FAILED'));
  // Even the right passcode is refused while throttled; another address is not.
  await assert.rejects(auth.authenticate({ login: 'ann', passcode: 'pw', remote: '10.0.0.9' }), (e: unknown) => code('LOGIN_THROTTLED')(e) && /retry in 60 s/.test((e as Error).message));
  assert.equal((await auth.authenticate({ login: 'ann', passcode: 'pw', remote: '10.0.0.8' })).login, 'ann');
  now += 60_001;
  assert.equal((await auth.authenticate({ login: 'ann', passcode: 'pw', remote: '10.0.0.9' })).login, 'ann');
  assert.deepEqual(results, ['failed', 'failed', 'failed', 'throttled', 'ok', 'ok']);
});

test('UsersFiles re-reads changed files and keeps the last good version on a bad edit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-users-'));
  try {
    const u = join(dir, 'users.properties');
    const g = join(dir, 'groups.properties');
    writeFileSync(u, `ann=${await hashPassword('pw', CHEAP)}\n`);
    writeFileSync(g, 'shop=ann\n');
    const errors: Error[] = [];
    const files = new UsersFiles(u, g, (e) => errors.push(e));
    assert.deepEqual([...files.current(0).users.keys()], ['ann']);
    writeFileSync(u, `ann=${await hashPassword('pw', CHEAP)}\nbob=${await hashPassword('pw2', CHEAP)}\n`);
    utimesSync(u, new Date(), new Date(Date.now() + 5_000));
    assert.deepEqual([...files.current(10_000).users.keys()], ['ann', 'bob']);
    writeFileSync(u, 'bob=plaintext\n');
    utimesSync(u, new Date(), new Date(Date.now() + 10_000));
    assert.deepEqual([...files.current(20_000).users.keys()], ['ann', 'bob'], 'last good version kept');
    assert.match(errors[0]!.message, /bob.*not a Hawser password hash/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a user base, credentials are not believed: anonymous (or refused when anonymous is off)', async () => {
  const open = new Authenticator({ anonymous: true, anonymousGroups: ['anonymous'], maxFailures: 3, failureWindowMs: 60_000 });
  assert.deepEqual(await open.authenticate({ login: 'bob', passcode: 'whatever', remote: 'a' }), { login: '', groups: ['anonymous'] });
  const closed = new Authenticator({ anonymous: false, anonymousGroups: [], maxFailures: 3, failureWindowMs: 60_000 });
  await assert.rejects(closed.authenticate({ login: 'bob', passcode: 'x', remote: 'a' }), code('LOGIN_FAILED'));
});
