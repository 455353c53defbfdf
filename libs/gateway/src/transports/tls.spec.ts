// Client TLS and WebSocket origins: the gateway in-process against the fake broker, real TLS
// sockets on 127.0.0.1 with certificates made by openssl in a temp dir (removed after).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, copyFileSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { connect as netConnect, createServer, type AddressInfo } from 'node:net';
import { loadConfig, ConfigError } from '@hawser/config';
import { createLogger, prom } from '@hawser/observability';
import { schema, type Config } from '../config';
import { startGateway, type Gateway } from '../gateway';
import { GatewayMetrics } from '../metrics';
import { FakeBroker, RawClient, raw, checkFor } from '../testkit';
import { startListeners, originPolicy, type ClientListeners, type Transport, type TransportSink } from './listeners';
import { makeTestPki, makeCa, makeCert, type TestPki } from './test-certs';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });

// The auth work makes anonymous access explicit (auth.anonymous); pass it when the schema has it.
const anonymous = 'anonymous' in schema.auth ? ['--auth.anonymous', 'true'] : [];

function configFor(store: string, extra: string[] = []): Config {
  return loadConfig(schema, {
    env: {},
    argv: [...anonymous, '--gateway.id', 'gw-tls', '--store.address', store, '--stomp.port', '0', '--ws.port', '0', '--ssl.port', '0', '--wss.port', '0',
      '--http.port', '0', '--heartbeat.send', '0', '--heartbeat.expect', '0', ...extra],
  }).config;
}

function tlsArgs(pki: TestPki, extra: string[] = []): string[] {
  return ['--ssl.cert', pki.server.cert, '--ssl.key', pki.server.key, ...extra];
}

/** SHA-256 fingerprint as openssl and Node print it. */
function fingerprint(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

async function metric(gw: Gateway, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await gw.registry.getSingleMetric(name)?.get())?.values ?? [];
  const v = m.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

let dir: string;
let pki: TestPki;
let broker: FakeBroker;
const clients: RawClient[] = [];
const track = (c: RawClient): RawClient => { clients.push(c); return c; };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hawser-gw-tls-'));
  pki = makeTestPki(dir);
  broker = await new FakeBroker().start();
});

after(async () => {
  for (const c of clients) c.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('stomp+ssl and wss listeners', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway(configFor(broker.address, tlsArgs(pki)), { log: quiet });
  });
  after(() => gw.stop());

  test('a client that trusts the CA connects over stomp+ssl and its SEND is receipted', async () => {
    assert.ok(gw.sslPort > 0 && gw.wssPort > 0, 'both TLS listeners are on');
    const c = track(await RawClient.tls(gw.sslPort, { ca: readFileSync(pki.ca.cert) }));
    const f = await c.connect();
    assert.equal(f.headers.version, '1.2');
    c.write(raw('SEND', { destination: '/queue/tls', receipt: 'r1' }, 'over tls'));
    assert.equal((await c.expect('RECEIPT')).headers['receipt-id'], 'r1');
    assert.equal(await metric(gw, 'hawser_gateway_connections', { protocol: 'stomp+ssl' }), 1);
  });

  test('wss: a client that trusts the CA connects with the STOMP subprotocol', async () => {
    const c = track(await RawClient.ws(gw.wssPort, undefined, { secure: true, ca: readFileSync(pki.ca.cert) }));
    assert.equal(c.protocol, 'v12.stomp');
    await c.connect();
    assert.equal(await metric(gw, 'hawser_gateway_connections_total', { protocol: 'wss' }), 1);
  });

  test('a client that does not trust the server certificate fails the handshake', async () => {
    await assert.rejects(RawClient.tls(gw.sslPort, {}), /self-signed certificate in certificate chain|unable to verify/);
  });

  test('the plaintext listeners stay on unless turned off', async () => {
    const c = track(await RawClient.tcp(gw.stompPort));
    await c.connect();
  });
});

describe('TLS required (stomp.enabled=false, ws.enabled=false)', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway(configFor(broker.address, tlsArgs(pki, ['--stomp.enabled', 'false', '--ws.enabled', 'false'])), { log: quiet });
  });
  after(() => gw.stop());

  test('no plaintext listener: the ports are 0 and only TLS clients get in', async () => {
    assert.equal(gw.stompPort, 0);
    assert.equal(gw.wsPort, 0);
    const c = track(await RawClient.tls(gw.sslPort, { ca: readFileSync(pki.ca.cert) }));
    await c.connect();
  });

  test('a plaintext STOMP client on the TLS port gets no frame, its connection is closed and counted', async () => {
    const before = await metric(gw, 'hawser_gateway_tls_handshake_failures_total', { protocol: 'stomp+ssl' });
    const c = track(await RawClient.tcp(gw.sslPort));
    c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
    await c.waitClosed();
    assert.deepEqual(c.frames, [], 'no STOMP frame reached a plaintext client');
    await checkFor('the handshake failure counted', async () =>
      (await metric(gw, 'hawser_gateway_tls_handshake_failures_total', { protocol: 'stomp+ssl' })) === before + 1);
  });
});

describe('client certificates', () => {
  let mallory: { cert: string; key: string };
  before(() => {
    mallory = makeCert(dir, makeCa(dir, 'other-ca'), 'mallory', { usage: 'client' });
  });

  describe('ssl.requestCert: the certificate is read and exposed on the Transport', () => {
    let listeners: ClientListeners;
    const seen: Transport[] = [];
    const sink: TransportSink = { receive() {}, drained() {}, transportClosed() {} };
    before(async () => {
      const config = configFor(broker.address, tlsArgs(pki, ['--ssl.ca', pki.ca.cert, '--ssl.requestCert', 'true']));
      listeners = await startListeners(config, {
        accept: (t) => { seen.push(t); return sink; },
        onSocketError: () => {},
        log: quiet,
        metrics: new GatewayMetrics(new prom.Registry()),
      });
    });
    // Listeners close once their connections have (nothing here closes them otherwise).
    after(() => { for (const t of seen) t.destroy(); return listeners.close(); });

    test('alice\'s certificate (signed by ssl.ca): authorized, CN, DN, issuer, fingerprint', async () => {
      const n = seen.length;
      track(await RawClient.tls(listeners.sslPort, { ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.alice.cert), key: readFileSync(pki.alice.key) }));
      const t = await checkFor('the transport', () => seen[n]);
      assert.equal(t.protocol, 'stomp+ssl');
      assert.match(t.tls!.version, /^TLSv1\.[23]$/);
      assert.ok(t.tls!.cipher);
      const peer = t.tls!.peer!;
      assert.equal(peer.authorized, true);
      assert.equal(peer.authorizationError, undefined);
      assert.equal(peer.subject, 'alice');
      assert.equal(peer.subjectDn, 'CN=alice,OU=ops,O=Hawser test');
      assert.equal(peer.issuer, 'test-ca');
      assert.equal(peer.fingerprint256, fingerprint(pki.alice.cert));
      assert.match(peer.serialNumber, /^[0-9A-F]+$/);
      assert.ok(peer.validTo);
    });

    test('a certificate from another CA still connects, marked unauthorized with the reason', async () => {
      const n = seen.length;
      track(await RawClient.tls(listeners.sslPort, { ca: readFileSync(pki.ca.cert), cert: readFileSync(mallory.cert), key: readFileSync(mallory.key) }));
      const peer = (await checkFor('the transport', () => seen[n])).tls!.peer!;
      assert.equal(peer.authorized, false);
      assert.ok(peer.authorizationError, 'the reason is given');
      assert.equal(peer.subject, 'mallory');
      assert.equal(peer.issuer, 'other-ca');
    });

    test('no certificate: tls is set, peer is not; plaintext transports have no tls', async () => {
      const n = seen.length;
      track(await RawClient.tls(listeners.sslPort, { ca: readFileSync(pki.ca.cert) }));
      const t = await checkFor('the transport', () => seen[n]);
      assert.ok(t.tls);
      assert.equal(t.tls.peer, undefined);
      track(await RawClient.tcp(listeners.stompPort));
      const plain = await checkFor('the plaintext transport', () => seen[n + 1]);
      assert.equal(plain.protocol, 'stomp');
      assert.equal(plain.tls, undefined);
    });

    test('wss: the certificate is exposed the same way', async () => {
      const n = seen.length;
      track(await RawClient.ws(listeners.wssPort, undefined, { secure: true, ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.alice.cert), key: readFileSync(pki.alice.key) }));
      const t = await checkFor('the transport', () => seen[n]);
      assert.equal(t.protocol, 'wss');
      assert.equal(t.tls!.peer!.authorized, true);
      assert.equal(t.tls!.peer!.subject, 'alice');
    });
  });

  describe('ssl.requireClientCert: the handshake refuses clients without a trusted certificate', () => {
    let gw: Gateway;
    before(async () => {
      gw = await startGateway(configFor(broker.address, tlsArgs(pki, ['--ssl.ca', pki.ca.cert, '--ssl.requireClientCert', 'true', '--stomp.enabled', 'false'])), { log: quiet });
    });
    after(() => gw.stop());

    /** TLS 1.3 sends the server's refusal after the client's handshake completes: it shows as an error or close, never a CONNECTED. */
    async function refused(opts: Parameters<typeof RawClient.tls>[1]): Promise<void> {
      let c: RawClient;
      try {
        c = track(await RawClient.tls(gw.sslPort, opts));
      } catch (e) {
        assert.match((e as Error).message, /certificate|alert|handshake|socket hang up|ECONNRESET/i);
        return;
      }
      c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
      await c.waitClosed();
      assert.deepEqual(c.frames, []);
    }

    test('no certificate: refused and counted', async () => {
      const before = await metric(gw, 'hawser_gateway_tls_handshake_failures_total', { protocol: 'stomp+ssl' });
      await refused({ ca: readFileSync(pki.ca.cert) });
      await checkFor('the failure counted', async () => (await metric(gw, 'hawser_gateway_tls_handshake_failures_total', { protocol: 'stomp+ssl' })) > before);
    });

    test('a certificate from another CA: refused', async () => {
      await refused({ ca: readFileSync(pki.ca.cert), cert: readFileSync(mallory.cert), key: readFileSync(mallory.key) });
    });

    test('alice\'s certificate: connected', async () => {
      const c = track(await RawClient.tls(gw.sslPort, { ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.alice.cert), key: readFileSync(pki.alice.key) }));
      await c.connect();
    });

    test('wss with alice\'s certificate connects; without one it does not', async () => {
      const c = track(await RawClient.ws(gw.wssPort, undefined, { secure: true, ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.alice.cert), key: readFileSync(pki.alice.key) }));
      await c.connect();
      await assert.rejects(RawClient.ws(gw.wssPort, undefined, { secure: true, ca: readFileSync(pki.ca.cert) }));
    });
  });
});

describe('WebSocket Origin allow-list (ws.origins)', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway(configFor(broker.address, tlsArgs(pki, ['--ws.origins', 'https://app.example.com,http://localhost:8080'])), { log: quiet });
  });
  after(() => gw.stop());

  for (const secure of [false, true]) {
    const name = secure ? 'wss' : 'ws';
    const port = () => (secure ? gw.wssPort : gw.wsPort);
    const tls = () => (secure ? { secure: true, ca: readFileSync(pki.ca.cert) } : {});

    test(`${name}: an Origin not in the list gets HTTP 403 at the upgrade, counted`, async () => {
      const before = await metric(gw, 'hawser_gateway_connections_rejected_total', { protocol: name, reason: 'ORIGIN_REFUSED' });
      await assert.rejects(RawClient.ws(port(), undefined, { ...tls(), origin: 'https://evil.example.net' }), /Unexpected server response: 403/);
      assert.equal(await metric(gw, 'hawser_gateway_connections_rejected_total', { protocol: name, reason: 'ORIGIN_REFUSED' }), before + 1);
    });

    test(`${name}: a listed Origin connects (scheme and host compared case-insensitively, default port dropped)`, async () => {
      const c = track(await RawClient.ws(port(), undefined, { ...tls(), origin: 'HTTPS://App.Example.com:443' }));
      await c.connect();
      const d = track(await RawClient.ws(port(), undefined, { ...tls(), origin: 'http://localhost:8080' }));
      await d.connect();
    });

    test(`${name}: the same host on another port or scheme is another origin: 403`, async () => {
      await assert.rejects(RawClient.ws(port(), undefined, { ...tls(), origin: 'http://app.example.com' }), /403/);
      await assert.rejects(RawClient.ws(port(), undefined, { ...tls(), origin: 'http://localhost:8081' }), /403/);
      await assert.rejects(RawClient.ws(port(), undefined, { ...tls(), origin: 'null' }), /403/);
    });

    test(`${name}: no Origin header (not a browser) connects`, async () => {
      const c = track(await RawClient.ws(port(), undefined, tls()));
      await c.connect();
    });
  }

  test('empty list or * allows any origin; a malformed entry is a ConfigError naming ws.origins', () => {
    assert.equal(originPolicy([])('https://anything.example'), true);
    assert.equal(originPolicy(['*'])('null'), true);
    assert.equal(originPolicy(['https://app.example.com/'])('https://app.example.com'), true, 'a trailing slash is harmless');
    for (const bad of ['app.example.com', 'https://app.example.com/path', 'https://*.example.com']) {
      assert.throws(() => originPolicy([bad]), (e: unknown) => e instanceof ConfigError && e.key === 'ws.origins', bad);
    }
  });
});

describe('certificate reload without a restart', () => {
  let gw: Gateway;
  let live: { cert: string; key: string };
  before(async () => {
    live = { cert: join(dir, 'live.pem'), key: join(dir, 'live.key') };
    copyFileSync(pki.server.cert, live.cert);
    copyFileSync(pki.server.key, live.key);
    gw = await startGateway(configFor(broker.address, ['--ssl.cert', live.cert, '--ssl.key', live.key]), { log: quiet, certPollMs: 50 });
  });
  after(() => gw.stop());

  async function servedFingerprint(ca: string): Promise<string> {
    const { connect } = await import('node:tls');
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: gw.sslPort, ca: readFileSync(ca) }, () => {
        const fp = s.getPeerCertificate().fingerprint256;
        s.destroy();
        resolve(fp);
      });
      s.on('error', reject);
    });
  }

  test('new files (renamed into place, as certificate tools do) are served to new connections; an open one keeps working', async () => {
    const open = track(await RawClient.tls(gw.sslPort, { ca: readFileSync(pki.ca.cert) }));
    await open.connect();
    assert.equal(await servedFingerprint(pki.ca.cert), fingerprint(pki.server.cert));

    // A renewed certificate from a new CA, so "served" cannot be confused with the old one.
    const ca2 = makeCa(dir, 'renewed-ca');
    const renewed = makeCert(dir, ca2, 'gateway-renewed', { usage: 'server' });
    copyFileSync(renewed.key, `${live.key}.tmp`);
    copyFileSync(renewed.cert, `${live.cert}.tmp`);
    renameSync(`${live.key}.tmp`, live.key);
    renameSync(`${live.cert}.tmp`, live.cert);

    await checkFor('the reload', async () => (await metric(gw, 'hawser_gateway_tls_reloads_total', { result: 'ok' })) >= 1, 10_000, 50);
    assert.equal(await servedFingerprint(ca2.cert), fingerprint(renewed.cert));
    open.write(raw('SEND', { destination: '/queue/tls', receipt: 'after-reload' }, 'x'));
    assert.equal((await open.expect('RECEIPT')).headers['receipt-id'], 'after-reload');
  });

  test('a broken file is not taken: counted as failed, the previous certificate is still served', async () => {
    const served = await servedFingerprint(join(dir, 'renewed-ca.pem'));
    writeFileSync(live.key, 'not a key\n');
    await checkFor('the failed reload', async () => (await metric(gw, 'hawser_gateway_tls_reloads_total', { result: 'failed' })) >= 1, 10_000, 50);
    assert.equal(await servedFingerprint(join(dir, 'renewed-ca.pem')), served);
  });
});

describe('configuration errors name the key', () => {
  const cases: Array<[string, () => string[], string]> = [
    ['ssl.key without ssl.cert', () => ['--ssl.key', pki.server.key], 'ssl.cert'],
    ['ssl.cert without ssl.key', () => ['--ssl.cert', pki.server.cert], 'ssl.key'],
    ['an unreadable ssl.cert', () => ['--ssl.cert', join(dir, 'missing.pem'), '--ssl.key', pki.server.key], 'ssl.cert'],
    ['a key that is not the certificate\'s', () => ['--ssl.cert', pki.server.cert, '--ssl.key', pki.alice.key], 'ssl.key'],
    ['ssl.requireClientCert without ssl.ca', () => [...tlsArgs(pki), '--ssl.requireClientCert', 'true'], 'ssl.ca'],
    ['an ssl.ca that holds no certificate', () => [...tlsArgs(pki), '--ssl.ca', pki.alice.key, '--ssl.requestCert', 'true'], 'ssl.ca'],
    ['every listener off', () => ['--stomp.enabled', 'false', '--ws.enabled', 'false'], 'stomp.enabled'],
    ['a bad ws.origins entry', () => ['--ws.origins', 'example.com'], 'ws.origins'],
  ];
  for (const [name, args, key] of cases) {
    test(name, async () => {
      await assert.rejects(startGateway(configFor(broker.address, args()), { log: quiet }), (e: unknown) => {
        assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
        assert.equal(e.key, key, e.message);
        return true;
      });
    });
  }

  test('a start that fails part-way (the ssl port is taken) closes the listeners it had opened', async () => {
    const probe = await startGateway(configFor(broker.address), { log: quiet });
    const stompPort = probe.stompPort;
    await probe.stop();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const sslPort = (taken.address() as AddressInfo).port;
      await assert.rejects(startGateway(configFor(broker.address, [...tlsArgs(pki), '--stomp.port', String(stompPort), '--ssl.port', String(sslPort)]), { log: quiet }), /EADDRINUSE/);
    } finally {
      taken.close();
    }
    await new Promise<void>((resolve, reject) => {
      const s = netConnect(stompPort, '127.0.0.1');
      s.on('connect', () => { s.destroy(); reject(new Error(`port ${stompPort} still accepts`)); });
      s.on('error', () => resolve());
    });
  });
});
