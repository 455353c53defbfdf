// Login at CONNECT (auth.*): users from a file with scrypt hashes, groups, anonymous only when
// configured, failed logins throttled per address, frames sent behind CONNECT kept in order
// while the check runs, and the configurations that must not start.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { hashPassword } from '@hawser/security';
import { schema } from './config';
import { startGateway, type Gateway } from './gateway';
import { readFileSync } from 'node:fs';
import { FakeBroker, RawClient, raw, checkFor } from './testkit';
import { makeCert, makeTestPki } from './transports/test-certs';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });
// Cheap scrypt parameters keep the spec fast; the hash format and the code path are the real ones.
const CHEAP = { log2N: 10, r: 8, p: 1 };

const dir = mkdtempSync(join(tmpdir(), 'hawser-auth-'));
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

const usersFile = join(dir, 'users.properties');
const groupsFile = join(dir, 'groups.properties');

async function writeUsers(users: Record<string, string>): Promise<void> {
  const lines = await Promise.all(Object.entries(users).map(async ([u, p]) => `${u}=${await hashPassword(p, CHEAP)}`));
  writeFileSync(usersFile, `# made by auth.spec\n${lines.join('\n')}\n`);
}

function configFor(store: string, extra: string[]) {
  return loadConfig(schema, {
    env: {},
    argv: ['--gateway.id', 'gw-auth', '--store.address', store, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', ...extra],
  }).config;
}

async function setup(extra: string[]): Promise<{ broker: FakeBroker; gw: Gateway }> {
  const broker = await new FakeBroker().start();
  cleanups.push(() => broker.stop());
  const gw = await startGateway(configFor(broker.address, extra), { log: quiet });
  cleanups.push(() => gw.stop());
  return { broker, gw };
}

async function client(p: Promise<RawClient>): Promise<RawClient> {
  const c = await p;
  cleanups.push(() => c.close());
  return c;
}

async function refused(gw: Gateway, headers: Record<string, string>): Promise<string> {
  const c = await client(RawClient.tcp(gw.stompPort));
  c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h', ...headers }));
  const message = (await c.expect('ERROR')).headers.message!;
  await c.waitClosed();
  return message;
}

const FILES = () => ['--auth.usersFile', usersFile, '--auth.groupsFile', groupsFile];

test('users file: the right passcode connects with the user\'s groups; wrong, unknown and anonymous are refused', async () => {
  await writeUsers({ app: 'pw', admin: 'secret' });
  writeFileSync(groupsFile, 'shop=app\nadmins=admin\n');
  const { broker, gw } = await setup(FILES());
  const ok = await client(RawClient.tcp(gw.stompPort));
  await ok.connect({ 'accept-version': '1.2', host: 'h', login: 'app', passcode: 'pw', 'client-id': 'c1' });
  // The login travels with the session's first request: SUBSCRIBE opens it on the store.
  ok.write(raw('SUBSCRIBE', { id: 's', destination: '/queue/q', receipt: 'r1' }));
  await ok.expect('RECEIPT');
  const open = broker.requests('open')[0]!.open;
  assert.deepEqual([open.login, open.groups, open.clientId], ['app', ['shop'], 'c1']);
  assert.equal(await refused(gw, { login: 'app', passcode: 'nope' }), 'login failed');
  assert.equal(await refused(gw, { login: 'eve', passcode: 'pw' }), 'login failed');
  assert.match(await refused(gw, {}), /anonymous access is off: connect with a login and passcode/);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /hawser_gateway_logins_total\{result="ok"[^}]*\} 1/);
  assert.match(metrics, /hawser_gateway_logins_total\{result="failed"[^}]*\} 3/);
  assert.match(metrics, /hawser_gateway_errors_total\{code="LOGIN_FAILED"[^}]*\} 3/);
});

test('failed logins from one address are throttled: past auth.maxFailures even the right passcode waits', async () => {
  await writeUsers({ app: 'pw' });
  const { gw } = await setup([...FILES(), '--auth.maxFailures', '2', '--auth.failureWindowMs', '60000']);
  assert.equal(await refused(gw, { login: 'app', passcode: 'x' }), 'login failed');
  assert.equal(await refused(gw, { login: 'app', passcode: 'y' }), 'login failed');
  assert.match(await refused(gw, { login: 'app', passcode: 'pw' }), /^too many failed logins from 127\.0\.0\.1: retry in \d+ s$/);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /hawser_gateway_logins_total\{result="throttled"[^}]*\} 1/);
});

test('frames sent right behind CONNECT wait for the login and run in order', async () => {
  await writeUsers({ app: 'pw' });
  const { broker, gw } = await setup(FILES());
  const c = await client(RawClient.tcp(gw.stompPort));
  c.write(
    raw('CONNECT', { 'accept-version': '1.2', host: 'h', login: 'app', passcode: 'pw' })
    + raw('SEND', { destination: '/queue/q', receipt: 'first' }, 'one')
    + raw('SEND', { destination: '/queue/q', receipt: 'second' }, 'two'),
  );
  await c.expect('CONNECTED');
  assert.equal((await c.expect('RECEIPT')).headers['receipt-id'], 'first');
  assert.equal((await c.expect('RECEIPT')).headers['receipt-id'], 'second');
  assert.deepEqual(broker.requests('send').map((r) => r.send.message.body.toString()), ['one', 'two']);
});

test('a user added to the file can log in without a restart', async () => {
  await writeUsers({ app: 'pw' });
  const { gw } = await setup(FILES());
  assert.equal(await refused(gw, { login: 'late', passcode: 'pw2' }), 'login failed');
  await writeUsers({ app: 'pw', late: 'pw2' });
  await checkFor('the new user logs in', async () => {
    const c = await client(RawClient.tcp(gw.stompPort));
    c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h', login: 'late', passcode: 'pw2' }));
    const f = await c.next();
    c.close();
    return f.command === 'CONNECTED';
  }, 10_000, 300);
});

test('configurations that must not start: nobody could connect; anonymous plaintext on a network address', async () => {
  const broker = await new FakeBroker().start();
  cleanups.push(() => broker.stop());
  await assert.rejects(startGateway(configFor(broker.address, []), { log: quiet }),
    (e: unknown) => e instanceof ConfigError && e.key === 'auth.anonymous' && /nobody could connect/.test(e.message));
  await assert.rejects(startGateway(configFor(broker.address, ['--auth.anonymous', 'true', '--stomp.host', '0.0.0.0']), { log: quiet }),
    (e: unknown) => e instanceof ConfigError && e.key === 'stomp.host' && /allowInsecureNetwork/.test(e.message));
  await assert.rejects(startGateway(configFor(broker.address, ['--auth.usersFile', join(dir, 'missing.properties')]), { log: quiet }),
    (e: unknown) => e instanceof ConfigError && e.key === 'auth.usersFile');
  writeFileSync(join(dir, 'plain.properties'), 'app=password\n');
  await assert.rejects(startGateway(configFor(broker.address, ['--auth.usersFile', join(dir, 'plain.properties')]), { log: quiet }),
    (e: unknown) => e instanceof ConfigError && /plain\.properties:1: user "app": not a Hawser password hash/.test(e.message));
  // Said explicitly, it starts (0.0.0.0 is only bound, never connected to from here but 127.0.0.1).
  const gw = await startGateway(configFor(broker.address, ['--auth.anonymous', 'true', '--stomp.host', '0.0.0.0', '--auth.allowInsecureNetwork', 'true']), { log: quiet });
  cleanups.push(() => gw.stop());
  const c = await client(RawClient.tcp(gw.stompPort));
  await c.connect();
});

test('a verified client certificate whose CN is a user logs in as that user without a passcode; an unknown CN does not', async () => {
  await writeUsers({ alice: 'not-used-here', app: 'pw' });
  writeFileSync(groupsFile, 'ops=alice\n');
  const pki = makeTestPki(mkdtempSync(join(dir, 'pki-')));
  const mallory = makeCert(pki.dir, pki.ca, 'mallory', { usage: 'client' });
  const { broker, gw } = await setup([...FILES(), '--ssl.port', '0', '--wss.port', '0', '--ssl.cert', pki.server.cert, '--ssl.key', pki.server.key,
    '--ssl.ca', pki.ca.cert, '--ssl.requestCert', 'true']);
  const ca = readFileSync(pki.ca.cert);
  const alice = await client(RawClient.tls(gw.sslPort, { ca, cert: readFileSync(pki.alice.cert), key: readFileSync(pki.alice.key) }));
  await alice.connect({ 'accept-version': '1.2', host: 'h' });
  alice.write(raw('SUBSCRIBE', { id: 's', destination: '/queue/q', receipt: 'r' }));
  await alice.expect('RECEIPT');
  const open = broker.requests('open').at(-1)!.open;
  assert.deepEqual([open.login, open.groups], ['alice', ['ops']]);
  // A certificate the CA signed but whose CN is no user: anonymous, which is off here.
  const m = await client(RawClient.tls(gw.sslPort, { ca, cert: readFileSync(mallory.cert), key: readFileSync(mallory.key) }));
  m.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h' }));
  assert.match((await m.expect('ERROR')).headers.message!, /anonymous access is off/);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /hawser_gateway_logins_total\{result="certificate"[^}]*\} 1/);
});

