// TLS options in broker URIs (?ca=, cert=, key=, servername=, verifyHostName=) and what a dial
// makes of them. A real TLS dial against the gateway is in tests/integration/src/tls.e2e.spec.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEndpoint, parseTarget, InvalidUriError } from './index';
import { tlsOptionsFor } from './transport';

describe('uri: TLS options', () => {
  it('stomp+ssl, ssl and wss carry ca/cert/key/servername/verifyHostName; wss keeps the rest of its query in the path', () => {
    assert.deepEqual(parseEndpoint('ssl://gw:61612?ca=/etc/ca.pem'), {
      transport: 'tls', host: 'gw', port: 61612, path: '/', uri: 'ssl://gw:61612?ca=/etc/ca.pem', tls: { ca: '/etc/ca.pem' },
    });
    assert.deepEqual(parseEndpoint('stomp+ssl://gw?trustStore=ca.pem&cert=a.pem&key=a.key&socket.verifyHostName=false&servername=gw.example').tls,
      { ca: 'ca.pem', cert: 'a.pem', key: 'a.key', verifyHostName: false, servername: 'gw.example' });
    const wss = parseEndpoint('wss://gw/stomp?ca=ca.pem&tenant=a');
    assert.equal(wss.port, 61615, 'the gateway\'s wss.port default');
    assert.equal(wss.path, '/stomp?tenant=a');
    assert.deepEqual(wss.tls, { ca: 'ca.pem' });
    assert.equal(parseEndpoint('ws://gw/x?tenant=a').path, '/x?tenant=a', 'a query without TLS options is kept as it was');
    assert.equal(parseEndpoint('ssl://gw').tls, undefined);
  });

  it('refuses TLS options on plaintext URIs, cert without key, bad values', () => {
    assert.throws(() => parseEndpoint('stomp://gw?ca=ca.pem'), (e: unknown) => e instanceof InvalidUriError && /TLS option/.test(e.message));
    assert.throws(() => parseEndpoint('ws://gw/?ca=ca.pem'), InvalidUriError);
    assert.throws(() => parseEndpoint('ssl://gw?cert=a.pem'), /cert without key/);
    assert.throws(() => parseEndpoint('ssl://gw?verifyHostName=no'), /true or false/);
    assert.throws(() => parseEndpoint('ssl://gw?ca='), /needs a value/);
  });

  it('failover URIs of ssl entries keep each entry\'s options', () => {
    const t = parseTarget('failover:(ssl://h1:61612?ca=/a.pem,ssl://h2:61612?ca=/b.pem)?randomize=false');
    assert.deepEqual(t.endpoints.map((e) => [e.host, e.tls?.ca]), [['h1', '/a.pem'], ['h2', '/b.pem']]);
    assert.equal(t.failover?.randomize, false);
    const bare = parseTarget('failover:ssl://h1?ca=/a.pem,ssl://h2?ca=/b.pem');
    assert.deepEqual(bare.endpoints.map((e) => e.tls?.ca), ['/a.pem', '/b.pem']);
  });
});

describe('dial: TLS options from the URI', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hawser-client-tls-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    writeFileSync(join(dir, 'a.pem'), 'CERT');
    writeFileSync(join(dir, 'a.key'), 'KEY');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the files at dial time; the URI wins over ConnectOptions.tls; no SNI for an IP address', () => {
    const e = parseEndpoint(`ssl://127.0.0.1:61612?ca=${dir}/ca.pem&cert=${dir}/a.pem&key=${dir}/a.key&verifyHostName=false`);
    const o = tlsOptionsFor(e, { ca: 'from-options', rejectUnauthorized: true });
    assert.equal(String(o.ca), 'CA');
    assert.equal(String(o.cert), 'CERT');
    assert.equal(String(o.key), 'KEY');
    assert.equal(o.rejectUnauthorized, true);
    assert.equal(o.servername, undefined, 'RFC 6066: SNI is a host name, never an address');
    assert.equal(typeof o.checkServerIdentity, 'function');
    assert.equal(tlsOptionsFor(parseEndpoint('ssl://gw.example')).servername, 'gw.example');
    assert.equal(tlsOptionsFor(parseEndpoint('ssl://127.0.0.1?servername=gw.example')).servername, 'gw.example');
  });

  it('an unreadable file is an InvalidUriError naming the option, the file and the URI', () => {
    const uri = `ssl://gw?ca=${dir}/missing.pem`;
    assert.throws(() => tlsOptionsFor(parseEndpoint(uri)), (e: unknown) => e instanceof InvalidUriError && e.message.includes('ca file') && e.message.includes('missing.pem') && e.message.includes('ENOENT'));
  });
});
