// Only the cluster talks to the cluster (docs/security.md, "Services: mutual TLS, RPC roles,
// ZooKeeper ACLs"): a replicated group of 3 stores, 2 coordinators and a gateway, every hop on
// mutual TLS with certificates made at test time, ZooKeeper with digest ACLs. It serves clients
// end to end; a process without a certificate reaches no RPC; a certificate of the wrong role,
// or a store speaking for another or not in the group, gets PERMISSION_DENIED; an epoch the
// coordinator never published is refused and not persisted; ZooKeeper writes without the
// digest fail.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as zkConnect, ZkNoAuthError, type ZkClient } from '@hawser/zk';
import {
  adminService, grpc, memberService, replicationService, topologyService, CHANNEL_OPTIONS,
  type PrepareReply, type ReplicationBatch, type StatusReply,
} from '@hawser/proto';
import { Cluster, checkFor } from './cluster';
import { httpGet, type Store } from './harness';
import { Clients, unique } from './support';

type Ctor = grpc.ServiceClientConstructor;
const clients: grpc.Client[] = [];
function client(ctor: Ctor, address: string, creds: grpc.ChannelCredentials): Record<string, Function> {
  const c = new ctor(address, creds, { ...CHANNEL_OPTIONS, 'grpc.enable_retries': 0 });
  clients.push(c);
  return c as unknown as Record<string, Function>;
}

function unary<T>(c: Record<string, Function>, method: string, req: unknown, timeoutMs = 5000): Promise<{ err: grpc.ServiceError | null; res: T | undefined }> {
  return new Promise((resolve) => {
    c[method]!.call(c, req, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: T) => resolve({ err, res }));
  });
}

/** Opens Replication.Stream, writes `batches`, resolves with how it ended (or 'open' after `openMs`). */
function stream(c: Record<string, Function>, batches: ReplicationBatch[], openMs = 1500): Promise<{ err: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    const call = c.Stream!.call(c) as grpc.ClientDuplexStream<ReplicationBatch, ReplicationBatch>;
    const t = setTimeout(() => { call.cancel(); resolve({ err: null }); }, openMs);
    call.on('data', () => undefined);
    call.on('error', (err: grpc.ServiceError) => { clearTimeout(t); resolve({ err }); });
    call.on('end', () => { clearTimeout(t); resolve({ err: null }); });
    for (const b of batches) call.write(b);
  });
}

async function denied(store: Store, method: string, role: string): Promise<number> {
  const { body } = await httpGet(store.httpPort, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith('hawser_rpc_denied_total{') && l.includes(`method="${method}"`) && l.includes(`role="${role}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('services on mutual TLS, RPC roles and ZooKeeper ACLs', { timeout: 240_000 }, () => {
  let c: Cluster;
  const stomp = new Clients(() => c.gateway.stompUri);
  const zks: ZkClient[] = [];
  before(async () => { c = await Cluster.start({ name: 'mtls', secure: true, embeddedGateways: true }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await stomp.closeAll();
    for (const x of clients.splice(0)) x.close();
    await Promise.all(zks.splice(0).map((z) => z.close()));
  });
  after(() => c?.close());

  it('a secure group of 3 with a gateway serves a client end to end, and says nothing about insecure gRPC', async () => {
    const { master, group } = await c.waitHealthy();
    assert.equal(group.members.length, 3);
    const q = unique('/queue/mtls');
    const producer = await stomp.connect();
    for (let i = 0; i < 5; i++) await producer.send(q, `m${i}`, { persistent: true });
    const consumer = await stomp.connect();
    const sub = await consumer.subscribe(q);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push((await sub.next(10_000)).text);
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
    // a slave's embedded gateway reaches the master with the store's own certificate (Broker.Sessions, Topology.Watch)
    const slave = c.stores.find((s) => s !== master)!;
    const viaSlave = await stomp.connect({}, slave.stompUri);
    await viaSlave.send(q, 'via-slave', { persistent: true });
    assert.equal((await sub.next(10_000)).text, 'via-slave');
    for (const s of c.stores) await c.waitCaughtUp(s === master ? c.stores.find((x) => x !== master)! : s);
    for (const p of [...c.stores, ...c.coordinators, ...c.gateways]) {
      assert.equal(p.logLines(/is insecure/).length, 0, `${p.name} warned about insecure gRPC`);
    }
  });

  it('a process without a certificate reaches no store, coordinator or replication RPC', async () => {
    const master = await c.master();
    const insecure = grpc.credentials.createInsecure();
    const st = await unary<StatusReply>(client(adminService(), master.address, insecure), 'Status', {});
    assert.equal(st.err?.code, grpc.status.UNAVAILABLE, `Admin.Status without TLS: ${st.err?.message}`);
    const prep = await unary<PrepareReply>(client(memberService(), master.address, insecure), 'Prepare', { group: 'g1', epoch: 1_000_000, coordinator: 'x' });
    assert.equal(prep.err?.code, grpc.status.UNAVAILABLE);
    const topo = await unary(client(topologyService(), c.coordinators[0]!.address, insecure), 'Get', { group: '' });
    assert.equal(topo.err?.code, grpc.status.UNAVAILABLE);
    const repl = await stream(client(replicationService(), master.address, insecure), [{ hello: { group: 'g1', from: 's2', epoch: 1_000_000, incarnation: 1 }, messages: [] }]);
    assert.equal(repl.err?.code, grpc.status.UNAVAILABLE);
    // TLS with the cluster's CA but no client certificate: the handshake fails the same way
    const noCert = grpc.credentials.createSsl(readFileSync(c.secure!.ca));
    const st2 = await unary<StatusReply>(client(adminService(), master.address, noCert), 'Status', {});
    assert.ok(st2.err && st2.err.code !== grpc.status.OK, 'no client certificate, no call');
    const { group } = await c.waitForMaster();
    assert.equal(group.state, 'ok');
  });

  it('a certificate with the wrong role is denied, naming the role; a store may not speak for another or join from outside the group', async () => {
    const master = await c.master();
    const secure = c.secure!;
    const gw = secure.credentials('gateway', 'gw1');
    const before = await denied(master, 'Replication/Stream', 'gateway');
    const repl = await stream(client(replicationService(), master.address, gw), [{ hello: { group: 'g1', from: 'gw1', epoch: 1, incarnation: 1 }, messages: [] }]);
    assert.equal(repl.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(repl.err!.details, /needs the role store; the caller gw1 has the role gateway/);
    const purge = await unary(client(adminService(), master.address, gw), 'Purge', { destination: '/queue/x' });
    assert.equal(purge.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(purge.err!.details, /needs the role admin/);
    const prep = await unary(client(memberService(), master.address, gw), 'Prepare', { group: 'g1', epoch: 99, coordinator: 'gw1' });
    assert.equal(prep.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(prep.err!.details, /needs the role coordinator/);
    const lost = await unary(client(topologyService(), c.coordinators[0]!.address, gw), 'ReportMasterLost', { group: 'g1', reporter: 's2', epoch: 1, masterId: 's1' });
    assert.equal(lost.err?.code, grpc.status.PERMISSION_DENIED);
    // a store's certificate: only for its own name, only as a member of the group
    const slaveId = c.idOf(c.stores.find((s) => s !== master)!);
    const spoof = await stream(client(replicationService(), master.address, secure.credentials('store', slaveId)), [{ hello: { group: 'g1', from: 'someone-else', epoch: 1, incarnation: 1 }, messages: [] }]);
    assert.equal(spoof.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(spoof.err!.details, /may only speak for itself/);
    const outsider = await stream(client(replicationService(), master.address, secure.credentials('store', 's9')), [{ hello: { group: 'g1', from: 's9', epoch: 1, incarnation: 1 }, messages: [] }]);
    assert.equal(outsider.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(outsider.err!.details, /store s9 is not a member of group g1/);
    // the admin certificate may read what the CLI reads
    const ok = await unary<StatusReply>(client(adminService(), master.address, secure.credentials()), 'Status', {});
    assert.equal(ok.err, null);
    assert.equal(ok.res?.role, 'master');
    assert.equal(await denied(master, 'Replication/Stream', 'gateway'), before + 1);
    assert.ok(await denied(master, 'Admin/Purge', 'gateway') >= 1);
    assert.ok(await denied(master, 'Replication/Stream', 'store') >= 2);
  });

  it('an epoch the coordinator never published is refused and not persisted: the next election still works', async () => {
    const { master, group } = await c.waitHealthy();
    const published = group.epoch;
    const slave = c.stores.find((s) => s !== master && s.alive)!;
    const slaveId = c.idOf(slave);
    const forged = published + 1000;
    // a valid coordinator certificate (a stolen or misused one): Prepare and Assign far above the published epoch
    const coord = client(memberService(), slave.address, c.secure!.credentials('coordinator', 'rogue'));
    const prep = await unary<PrepareReply>(coord, 'Prepare', { group: 'g1', epoch: forged, coordinator: 'rogue' });
    assert.equal(prep.err, null);
    assert.equal(prep.res!.promised, false);
    assert.match(prep.res!.reason, new RegExp(`epoch ${forged} is above group g1's published epoch ${published}`));
    const asg = await unary<{ accepted: boolean; reason: string }>(coord, 'Assign', { group: 'g1', epoch: forged, role: 'master', masterId: slaveId, masterAddress: slave.address, members: [] });
    assert.equal(asg.res?.accepted, false);
    // a member store's certificate: Hello and an append with the forged epoch to the master
    await stream(client(replicationService(), master.address, c.secure!.credentials('store', slaveId)), [{
      hello: { group: 'g1', from: slaveId, epoch: forged, incarnation: 1 },
      messages: [{ kind: 'append', append: { from: slaveId, epoch: forged, prevEpoch: forged, prevPosition: 0, entries: [], commitPosition: 0 } }],
    }]);
    const after = await c.waitHealthy();
    assert.equal(after.master, master, 'the master was not fenced');
    assert.equal(after.group.epoch, published);
    for (const s of c.stores) assert.equal((await c.status(s)).epoch, published, `${s.name} kept epoch ${published}`);
    // nothing persisted: after the master dies, every store follows the coordinator's next epoch
    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: published, deadlineMs: 30_000 });
    assert.ok(next.group.epoch < forged);
    await master.start();
    await c.waitHealthy(500, 40_000);
    for (const s of c.stores) assert.ok((await c.status(s)).epoch < forged);
    const q = unique('/queue/after-forgery');
    const p = await stomp.connect();
    await p.send(q, 'still-works', { persistent: true });
    const sub = await (await stomp.connect()).subscribe(q);
    assert.equal((await sub.next(10_000)).text, 'still-works');
  });

  it('a bridge on mutual TLS forwards to a second secure group (Broker.Session, Admin.Destinations, Topology.Watch, its ZooKeeper lock)', async () => {
    const g2 = await Cluster.join(c, { group: 'g2', stores: 1, gateways: 1 });
    const bridge = await c.startBridge(['g1', g2]);
    await bridge.waitState('active');
    const q = unique('/queue/bridged');
    const consumer = await stomp.connect({}, g2.gateway.stompUri);
    const sub = await consumer.subscribe(q);
    const producer = await stomp.connect();
    await checkFor(20_000, 200, async () => {
      await producer.send(q, 'across', { persistent: true });
      const m = await sub.tryNext(500);
      if (!m) throw new Error('nothing forwarded yet');
      assert.equal(m.text, 'across');
    });
    for (const p of [bridge, ...g2.stores]) assert.equal(p.logLines(/PERMISSION_DENIED/).length, 0, `${p.name} was refused a call`);
  });

  it('ZooKeeper: without the digest (or with another) Hawser\'s znodes can be read, not changed, deleted or added to', async () => {
    const anon = await zkConnect(c.zk.connect, { auth: '' });
    zks.push(anon);
    const wrong = await zkConnect(c.zk.connect, { auth: 'hawser:not-the-password' });
    zks.push(wrong);
    const { group } = await c.waitForMaster();
    const epochPath = '/hawser/groups/g1/epoch';
    assert.equal(Number((await anon.get(epochPath)).data.toString()), group.epoch, 'world may read');
    const members = await anon.children('/hawser/groups/g1/members');
    assert.equal(members.length, 3);
    const gateways = await anon.children('/hawser/gateways');
    assert.ok(gateways.length >= 1);
    for (const z of [anon, wrong]) {
      await assert.rejects(z.set(epochPath, String(group.epoch + 1000)), ZkNoAuthError);
      await assert.rejects(z.set('/hawser/groups/g1/master', '{"id":"evil","address":"127.0.0.1:1","epoch":999999}'), ZkNoAuthError);
      await assert.rejects(z.delete(`/hawser/groups/g1/members/${members[0]}`), ZkNoAuthError);
      await assert.rejects(z.delete(`/hawser/gateways/${gateways[0]}`), ZkNoAuthError);
      await assert.rejects(z.create('/hawser/groups/g1/members/evil', '{"id":"evil","address":"127.0.0.1:1"}', 'ephemeral'), ZkNoAuthError);
      await assert.rejects(z.create('/hawser/groups/evil', ''), ZkNoAuthError);
      await assert.rejects(z.setAcl(epochPath, [{ perms: 31, scheme: 'world', auth: 'anyone' }]), ZkNoAuthError);
    }
    await checkFor(5000, 100, async () => {
      const now = await c.group();
      assert.equal(now.state, 'ok');
      assert.equal(now.epoch, group.epoch);
      assert.equal(now.members.length, 3);
    });
  });
});
