// Guards and failures: maximumConnections (TCP and WebSocket), login, the store going away,
// the store not answering, shutdown; and the service process itself (ready line, SIGTERM).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { loadConfig } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { schema } from './config';
import { startGateway, type Gateway } from './gateway';
import { FakeBroker, RawClient, raw, checkFor } from './testkit';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });

function configFor(store: string, extra: string[] = []) {
  return loadConfig(schema, {
    env: {},
    argv: ['--gateway.id', 'gw-limits', '--store.address', store, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', ...extra],
  }).config;
}

const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function setup(extra: string[] = []): Promise<{ broker: FakeBroker; gw: Gateway }> {
  const broker = await new FakeBroker().start();
  const gw = await startGateway(configFor(broker.address, extra), { log: quiet });
  cleanups.push(() => broker.stop(), () => gw.stop());
  return { broker, gw };
}

async function client(p: Promise<RawClient>): Promise<RawClient> {
  const c = await p;
  cleanups.push(() => c.close());
  return c;
}

describe('maximumConnections', () => {
  test('the (N+1)th connection gets ERROR and is closed, TCP and WebSocket; a slot frees on close', async () => {
    const { gw } = await setup(['--limits.maximumConnections', '2']);
    const a = await client(RawClient.tcp(gw.stompPort));
    await a.connect();
    const b = await client(RawClient.ws(gw.wsPort));
    await b.connect();
    await checkFor('two connections', () => gw.connectionCount === 2);
    const c = await client(RawClient.tcp(gw.stompPort));
    const e = await c.expect('ERROR');
    assert.equal(e.headers.message, 'maximum connections (2) reached');
    await c.waitClosed();
    const d = await client(RawClient.ws(gw.wsPort));
    assert.equal((await d.expect('ERROR')).headers.message, 'maximum connections (2) reached');
    await d.waitClosed();
    // the admitted ones still work
    a.write(raw('SEND', { destination: '/queue/x', receipt: 'r' }));
    await a.expect('RECEIPT');
    a.close();
    await checkFor('a slot to free', () => gw.connectionCount === 1);
    const f = await client(RawClient.tcp(gw.stompPort));
    await f.connect();
    const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
    for (const protocol of ['stomp', 'ws']) {
      assert.match(text, new RegExp(`hawser_gateway_connections_rejected_total\\{protocol="${protocol}",reason="MAX_CONNECTIONS"[^}]*\\} 1`));
    }
  });
});

describe('backpressure', () => {
  test('a client that stops reading pauses its deliveries; nothing is lost when it reads again', async () => {
    const { gw } = await setup(['--limits.writeBufferHigh', '1024']);
    const slow = await client(RawClient.tcp(gw.stompPort));
    await slow.connect();
    slow.write(raw('SUBSCRIBE', { id: 's', destination: '/topic/bp', receipt: 'r' }));
    await slow.expect('RECEIPT');
    const producer = await client(RawClient.tcp(gw.stompPort));
    await producer.connect();
    slow.pause();
    const body = 'b'.repeat(16 * 1024);
    const n = 300;
    for (let i = 0; i < n; i++) producer.write(raw('SEND', { destination: '/topic/bp', seq: i }, body));
    producer.write(raw('SEND', { destination: '/queue/other', receipt: 'all-sent' }));
    await producer.expect('RECEIPT', 10_000);
    await new Promise((r) => setTimeout(r, 200));
    slow.resume();
    await checkFor('every message', () => slow.frames.filter((f) => f.command === 'MESSAGE').length === n, 10_000);
    const seqs = slow.frames.filter((f) => f.command === 'MESSAGE').map((f) => Number(f.headers.seq));
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i));
  });
});

describe('connect timeout', () => {
  test('a connection that never sends CONNECT is closed after limits.connectTimeout', async () => {
    const { gw } = await setup(['--limits.connectTimeout', '200']);
    const c = await client(RawClient.tcp(gw.stompPort));
    assert.equal((await c.expect('ERROR')).headers.message, 'no CONNECT frame within 200 ms');
    await c.waitClosed();
    await checkFor('the slot to free', () => gw.connectionCount === 0);
  });
});

describe('login', () => {
  test('auth.users: the right passcode connects, a wrong one gets "login failed"', async () => {
    const { gw } = await setup(['--auth.users', 'admin:secret,app:pw']);
    const ok = await client(RawClient.tcp(gw.stompPort));
    await ok.connect({ 'accept-version': '1.2', host: 'h', login: 'app', passcode: 'pw' });
    for (const headers of [{ login: 'app', passcode: 'nope' }, { login: 'eve', passcode: 'pw' }, {}] as Array<Record<string, string>>) {
      const bad = await client(RawClient.tcp(gw.stompPort));
      bad.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h', ...headers }));
      assert.equal((await bad.expect('ERROR')).headers.message, 'login failed');
      await bad.waitClosed();
    }
  });
});

describe('store failures', () => {
  test('the store stream fails: ERROR "broker unavailable: ..." and close', async () => {
    const { broker, gw } = await setup();
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    broker.killSessions();
    const e = await c.expect('ERROR');
    assert.match(e.headers.message!, /^broker unavailable: /);
    await c.waitClosed();
    const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
    assert.match(text, /hawser_gateway_store_stream_failures_total\{[^}]*\} 1/);
  });

  test('no store listening: CONNECT gets ERROR "broker unavailable: ..."', async () => {
    const port = await freePort();
    const gw = await startGateway(configFor(`127.0.0.1:${port}`), { log: quiet });
    cleanups.push(() => gw.stop());
    const c = await client(RawClient.tcp(gw.stompPort));
    c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h' }));
    const e = await c.expect('ERROR', 10_000);
    assert.match(e.headers.message!, /^broker unavailable: /);
    await c.waitClosed();
  });

  test('the store does not answer the open within store.openTimeout', async () => {
    const { broker, gw } = await setup(['--store.openTimeout', '300']);
    broker.silent = true;
    const c = await client(RawClient.tcp(gw.stompPort));
    c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h' }));
    const e = await c.expect('ERROR');
    assert.equal(e.headers.message, 'broker unavailable: the store did not answer within 300 ms');
    await c.waitClosed();
  });
});

describe('shutdown', () => {
  test('stop(): clients get ERROR "server shutting down", streams end, listeners close', async () => {
    const broker = await new FakeBroker().start();
    cleanups.push(() => broker.stop());
    const gw = await startGateway(configFor(broker.address), { log: quiet });
    const a = await client(RawClient.tcp(gw.stompPort));
    await a.connect();
    const b = await client(RawClient.ws(gw.wsPort));
    await b.connect();
    await gw.stop();
    assert.equal((await a.expect('ERROR')).headers.message, 'server shutting down');
    assert.equal((await b.expect('ERROR')).headers.message, 'server shutting down');
    await a.waitClosed();
    await b.waitClosed();
    await checkFor('the store sessions to end', () => broker.sessions.every((s) => s.ended));
    await assert.rejects(RawClient.tcp(gw.stompPort));
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
}
