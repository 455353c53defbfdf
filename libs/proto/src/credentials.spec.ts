// Mutual TLS and RPC roles over real gRPC on 127.0.0.1, with certificates made by openssl at
// test time: loadTls's checks, a server that requires client certificates, and the role
// interceptor (roles, speaking for oneself, the server's admit, the refusal metric).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '@hawser/config';
import { adminService, replicationService, CHANNEL_OPTIONS, SERVER_OPTIONS } from './index';
import { isLoopback, loadTls, serverCredentials, type ServiceTls } from './credentials';
import { makeCerts, type MadeCerts } from './certs';
import { checkCall, roleInterceptor } from './rpc-roles';
import type { ReplicationBatch, StatusReply } from './index';

let dir: string;
let made: MadeCerts;
let other: MadeCerts;
const tlsOf = (m: MadeCerts, stem: string): ServiceTls => {
  const c = m.certs.find((x) => `${x.role}-${x.name}` === stem)!;
  return loadTls({ ca: m.ca, cert: c.cert, key: c.key })!;
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hawser-creds-spec-'));
  made = makeCerts(join(dir, 'cluster'), [
    { role: 'store', name: 's1' }, { role: 'store', name: 's2' }, { role: 'store', name: 'intruder' },
    { role: 'gateway', name: 'g1' }, { role: 'admin', name: 'cli' }, { role: 'coordinator', name: 'c1' },
  ]);
  other = makeCerts(join(dir, 'other'), [{ role: 'admin', name: 'cli' }]);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('loadTls: none set is insecure; some set, unreadable, mismatched or foreign files are ConfigErrors naming the key', () => {
  const s1 = made.certs[0]!;
  assert.equal(loadTls({ ca: '', cert: '', key: '' }), null);
  const t = loadTls({ ca: made.ca, cert: s1.cert, key: s1.key })!;
  assert.deepEqual(t.identity, { role: 'store', name: 's1' });
  const fails = (tls: { ca: string; cert: string; key: string }, key: string, text: RegExp) =>
    assert.throws(() => loadTls(tls), (e: unknown) => e instanceof ConfigError && e.key === key && text.test(e.message));
  fails({ ca: made.ca, cert: s1.cert, key: '' }, 'tls.key', /tls\.ca, tls\.cert and tls\.key together/);
  fails({ ca: '', cert: s1.cert, key: '' }, 'tls.ca', /tls\.ca and tls\.key are missing/);
  fails({ ca: join(dir, 'nope.pem'), cert: s1.cert, key: s1.key }, 'tls.ca', /cannot read/);
  fails({ ca: made.ca, cert: s1.cert, key: made.certs[1]!.key }, 'tls.key', /not the private key/);
  fails({ ca: other.ca, cert: s1.cert, key: s1.key }, 'tls.cert', /not signed by the CA/);
  writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
  fails({ ca: made.ca, cert: join(dir, 'junk.pem'), key: s1.key }, 'tls.cert', /not a PEM certificate/);
  assert.throws(() => loadTls({ ca: made.ca, cert: s1.cert, key: s1.key }, 'tls', new Date(Date.now() + 5 * 365 * 86400_000)), /valid from .* not now/);
});

test('checkCall: the role table, default deny, admit', () => {
  const admin = { role: 'admin' as const, name: 'cli' };
  const gw = { role: 'gateway' as const, name: 'g1' };
  assert.equal(checkCall('/hawser.admin.v1.Admin/Purge', admin), null);
  assert.match(checkCall('/hawser.admin.v1.Admin/Purge', gw)!, /needs the role admin; the caller g1 has the role gateway/);
  assert.match(checkCall('/hawser.replication.v1.Replication/Stream', gw)!, /needs the role store/);
  assert.match(checkCall('/hawser.coordination.v1.Member/Prepare', { role: 'store', name: 's2' })!, /needs the role coordinator/);
  assert.match(checkCall('/x.Y/Z', admin)!, /not callable/);
  assert.match(checkCall('/hawser.admin.v1.Admin/Status', 'no certificate')!, /needs a client certificate/);
  assert.equal(checkCall('/hawser.broker.v1.Broker/Sessions', { role: 'store', name: 's2' }), null);
  assert.match(checkCall('/hawser.replication.v1.Replication/Stream', { role: 'store', name: 'x' }, () => 'x is not a member')!, /not a member/);
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost') && !isLoopback('0.0.0.0'));
});

test('over real mutual TLS: roles allowed and denied, insecure and foreign clients refused, names bound, refusals counted', async () => {
  const registry = new Registry();
  const warnings: string[] = [];
  const members = new Set(['s1', 's2', 'intruder']);
  const server = new grpc.Server({
    ...SERVER_OPTIONS,
    interceptors: [roleInterceptor({
      registry, log: { warn: (_o, m) => warnings.push(m) },
      admit: (method, peer) => (method.includes('Replication') && peer.role === 'store' && !members.has(peer.name) ? `store ${peer.name} is not a member` : null),
    })],
  });
  const served: string[] = [];
  server.addService(adminService().service, {
    Status: (_c: unknown, cb: grpc.sendUnaryData<Partial<StatusReply>>) => { served.push('Status'); cb(null, { node: 's1', role: 'master' }); },
    Purge: (_c: unknown, cb: grpc.sendUnaryData<{ removed: number }>) => { served.push('Purge'); cb(null, { removed: 3 }); },
  });
  server.addService(replicationService().service, {
    Stream: (call: grpc.ServerDuplexStream<ReplicationBatch, ReplicationBatch>) => {
      call.on('data', (b: ReplicationBatch) => { served.push(`Stream ${b.hello?.from}`); call.write({ messages: [] }); });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  const serverTls = tlsOf(made, 'store-s1');
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', serverTls.server(), (e, p) => (e ? rej(e) : res(p))));
  const clients: grpc.Client[] = [];
  const client = (ctor: grpc.ServiceClientConstructor, creds: grpc.ChannelCredentials) => {
    const c = new ctor(`127.0.0.1:${port}`, creds, { ...CHANNEL_OPTIONS, 'grpc.enable_retries': 0 });
    clients.push(c);
    return c as unknown as Record<string, Function>;
  };
  const unaryCall = (c: Record<string, Function>, method: string) => new Promise<{ err: grpc.ServiceError | null; res: unknown }>((resolve) => {
    c[method]!.call(c, {}, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, res: unknown) => resolve({ err, res }));
  });
  const stream = (c: Record<string, Function>, from: string) => new Promise<{ err: grpc.ServiceError | null; got: number }>((resolve) => {
    const call = c.Stream!.call(c) as grpc.ClientDuplexStream<ReplicationBatch, ReplicationBatch>;
    let got = 0;
    call.on('data', () => { got++; call.end(); });
    call.on('error', (err: grpc.ServiceError) => resolve({ err, got }));
    call.on('end', () => resolve({ err: null, got }));
    call.write({ hello: { group: 'g', from, epoch: 1, incarnation: 1 }, messages: [] });
  });
  try {
    // the admin role may purge
    const ok = await unaryCall(client(adminService(), tlsOf(made, 'admin-cli').channel()), 'Purge');
    assert.equal(ok.err, null);
    assert.deepEqual(ok.res, { removed: 3 });
    // a gateway may not: PERMISSION_DENIED naming the missing role, the handler never ran
    const gw = await unaryCall(client(adminService(), tlsOf(made, 'gateway-g1').channel()), 'Purge');
    assert.equal(gw.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(gw.err!.details, /needs the role admin; the caller g1 has the role gateway/);
    // a coordinator may read Status, not Purge
    assert.equal((await unaryCall(client(adminService(), tlsOf(made, 'coordinator-c1').channel()), 'Status')).err, null);
    assert.equal((await unaryCall(client(adminService(), tlsOf(made, 'coordinator-c1').channel()), 'Purge')).err?.code, grpc.status.PERMISSION_DENIED);
    // no certificate (insecure channel) and a certificate of another CA never get a call through
    const insecure = await unaryCall(client(adminService(), grpc.credentials.createInsecure()), 'Purge');
    assert.equal(insecure.err?.code, grpc.status.UNAVAILABLE);
    const noCert = await unaryCall(client(adminService(), grpc.credentials.createSsl(readFileSync(made.ca))), 'Purge');
    assert.ok(noCert.err && noCert.err.code !== grpc.status.OK, 'TLS without a client certificate fails');
    const foreign = await unaryCall(client(adminService(), tlsOf(other, 'admin-cli').channel()), 'Purge');
    assert.ok(foreign.err, 'a certificate of another CA fails');
    // replication: a member store speaking for itself streams; for another name, or not a member, it is refused
    assert.deepEqual(await stream(client(replicationService(), tlsOf(made, 'store-s2').channel()), 's2'), { err: null, got: 1 });
    const spoof = await stream(client(replicationService(), tlsOf(made, 'store-s2').channel()), 's3');
    assert.equal(spoof.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(spoof.err!.details, /store s2 may only speak for itself, not for 's3'/);
    members.delete('intruder');
    const stranger = await stream(client(replicationService(), tlsOf(made, 'store-intruder').channel()), 'intruder');
    assert.equal(stranger.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(stranger.err!.details, /not a member/);
    const gwRepl = await stream(client(replicationService(), tlsOf(made, 'gateway-g1').channel()), 'g1');
    assert.equal(gwRepl.err?.code, grpc.status.PERMISSION_DENIED);
    assert.deepEqual(served.sort(), ['Purge', 'Status', 'Stream s2']);
    const metric = await registry.getSingleMetric('hawser_rpc_denied_total')!.get();
    const count = (method: string, role: string) => metric.values.find((v) => v.labels.method === method && v.labels.role === role)?.value ?? 0;
    assert.equal(count('Admin/Purge', 'gateway'), 1);
    assert.equal(count('Admin/Purge', 'coordinator'), 1);
    assert.equal(count('Replication/Stream', 'store'), 2);
    assert.equal(count('Replication/Stream', 'gateway'), 1);
    assert.ok(warnings.length >= 3);
  } finally {
    for (const c of clients) c.close();
    server.forceShutdown();
  }
});

test('serverCredentials: insecure on a non-loopback host warns once', () => {
  const warned: string[] = [];
  const log = { warn: (_o: object, m: string) => warned.push(m) };
  serverCredentials('127.0.0.1', log);
  assert.equal(warned.length, 0);
  serverCredentials('0.0.0.0', log);
  serverCredentials('0.0.0.0', log);
  assert.equal(warned.length, 1);
  assert.match(warned[0]!, /insecure/);
});
