// Regression (found by tools/fuzz): a STOMP 1.2 producer's headers that a 1.0 or 1.1
// subscriber's version cannot carry (a CR anywhere before 1.2; a LF or ':' in a name, a LF in
// a value in 1.0) made encodeFrame throw inside the store's delivery callback, and the whole
// gateway process exited. Now the MESSAGE carries what the version can: the rest is left out
// or has its line breaks turned into spaces; every client stays connected.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { schema } from './config';
import { startGateway } from './gateway';
import { carriable } from './protocols/stomp/connection';
import { FakeBroker, RawClient, raw } from './testkit';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });
const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('carriable: per version, what a MESSAGE header may hold', () => {
  const h: Array<[string, string]> = [['a', 'x\ry'], ['b', 'x\ny'], ['c:d', 'v'], ['e\rf', 'v'], ['g\nh', 'v'], ['', 'v'], ['ok', 'a:b\\c']];
  assert.deepEqual(carriable('1.2', h), h);
  assert.deepEqual(carriable('1.1', h), [['a', 'x y'], ['b', 'x\ny'], ['c:d', 'v'], ['g\nh', 'v'], ['ok', 'a:b\\c']]);
  assert.deepEqual(carriable('1.0', h), [['a', 'x y'], ['b', 'x y'], ['ok', 'a:b\\c']]);
});

for (const home of ['grpc', 'in-process'] as const) {
  test(`a 1.2 producer's CR, LF and ':' in headers reach 1.0 and 1.1 subscribers without killing the gateway (${home})`, async () => {
    const broker = await new FakeBroker().start();
    const config = loadConfig(schema, {
      env: {}, argv: ['--auth.anonymous', 'true', '--store.address', broker.address, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0'],
    }).config;
    const gw = await startGateway(config, { log: quiet, ...(home === 'in-process' ? { local: broker.local } : {}) });
    cleanups.push(() => broker.stop(), () => gw.stop());
    const subs = new Map<string, RawClient>();
    for (const v of ['1.0', '1.1', '1.2']) {
      const c = await RawClient.tcp(gw.stompPort);
      cleanups.push(() => c.close());
      await c.connect({ 'accept-version': v, host: 'localhost', 'heart-beat': '0,0' });
      c.write(raw('SUBSCRIBE', { id: `s${v}`, destination: '/queue/mixed', receipt: `r${v}` }));
      await c.expect('RECEIPT');
      subs.set(v, c);
    }
    const p = await RawClient.tcp(gw.stompPort);
    cleanups.push(() => p.close());
    await p.connect();
    // STOMP 1.2 escapes: \r CR, \n LF, \c ':'.
    p.write(raw('SEND', { destination: '/queue/mixed', 'message-id': 'm\\r1', 'x-cr': 'a\\rb', 'x-lf': 'a\\nb', 'x\\cname': 'colon', 'x\\rname': 'cr', receipt: 'sent' }, 'body'));
    await p.expect('RECEIPT');

    const m12 = await subs.get('1.2')!.expect('MESSAGE');
    assert.equal(m12.headers['message-id'], 'm\r1');
    assert.equal(m12.headers['x-cr'], 'a\rb');
    assert.equal(m12.headers['x:name'], 'colon');
    assert.equal(m12.headers['x\rname'], 'cr');

    const m11 = await subs.get('1.1')!.expect('MESSAGE');
    assert.equal(m11.body, 'body');
    assert.equal(m11.headers['message-id'], 'm 1');
    assert.equal(m11.headers['x-cr'], 'a b');
    assert.equal(m11.headers['x-lf'], 'a\nb');
    assert.equal(m11.headers['x:name'], 'colon');
    assert.equal(m11.headers['x\rname'], undefined);

    const m10 = await subs.get('1.0')!.expect('MESSAGE');
    assert.equal(m10.body, 'body');
    assert.equal(m10.headers['x-cr'], 'a b');
    assert.equal(m10.headers['x-lf'], 'a b');
    assert.equal(Object.keys(m10.headers).some((k) => k.startsWith('x') && k.includes('name')), false);

    // Everyone is still connected and served.
    for (const c of [...subs.values(), p]) assert.equal(c.closed, false);
    assert.equal(gw.connectionCount, 4);
    p.write(raw('SEND', { destination: '/queue/mixed', receipt: 'again' }, 'again'));
    await p.expect('RECEIPT');
    assert.equal((await subs.get('1.1')!.expect('MESSAGE')).body, 'again');
  });
}
