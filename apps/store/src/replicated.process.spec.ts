// Replicated stores as processes with a real ZooKeeper (tools/zookeeper, tickTime 250 so a
// 1 s session timeout is granted). The test plays the coordinator: Member.Prepare/Assign over
// gRPC, the epoch znode (bumped before each Prepare, as the coordinator does: a store promises
// no epoch above it) and the master znode. kill -9 of the master, failover, rejoin by the
// master znode, and fencing of a SIGSTOPped master whose session expired.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type ZkClient } from '@hawser/zk';
import { startZooKeeper, type ZooKeeperServer } from '@hawser/zookeeper-launcher';
import { adminService, memberService, type AssignReply, type PrepareReply, type StatusReply } from '@hawser/proto';
import { checkFor, TestSession, unary } from './testing';

const MAIN = resolve(__dirname, 'main.js');

interface Proc { id: string; dir: string; child: ChildProcess | null; grpcPort: number; httpPort: number; out: string }

async function spawnStore(p: Proc, zk: string): Promise<void> {
  p.out = '';
  const child = spawn(process.execPath, [MAIN, '--group', 'g1', '--node.id', p.id, '--node.dataDir', p.dir, '--grpc.port', '0', '--http.port', '0',
    '--ha.mode', 'replicated', '--replicas', '3', '--zk.address', zk, '--zk.sessionTimeout', '1000',
    '--replication.masterTimeoutMs', '500', '--replication.heartbeatMs', '100'],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HAWSER_LOG_LEVEL: 'info' } });
  p.child = child;
  child.stdout!.on('data', (b: Buffer) => { p.out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { p.out += b.toString(); });
  const line = (await checkFor(`${p.id} ready`, () => p.out.split('\n').find((l) => l.includes('"msg":"store ready"')), 20_000))!;
  const j = JSON.parse(line) as { grpcPort: number; httpPort: number };
  p.grpcPort = j.grpcPort;
  p.httpPort = j.httpPort;
}

async function kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const c = p.child;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill(signal);
  await gone;
  p.child = null;
}

const addr = (p: Proc) => `127.0.0.1:${p.grpcPort}`;
const prepare = (p: Proc, epoch: number) => unary<object, PrepareReply>(memberService(), addr(p), 'Prepare', { group: 'g1', epoch, coordinator: 'test' });
const status = (p: Proc) => unary<object, StatusReply>(adminService(), addr(p), 'Status', {});
function assign(p: Proc, epoch: number, role: string, master: Proc, live: Proc[]): Promise<AssignReply> {
  return unary(memberService(), addr(p), 'Assign', { group: 'g1', epoch, role, masterId: master.id, masterAddress: addr(master), members: live.map((m) => ({ id: m.id, address: addr(m) })) });
}
async function metrics(p: Proc): Promise<string> {
  return (await fetch(`http://127.0.0.1:${p.httpPort}/metrics`)).text();
}

test('processes + ZooKeeper: member znodes, kill -9 failover, rejoin via the master znode, a SIGSTOPped master is fenced', async () => {
  const root = mkdtempSync(join(tmpdir(), 'hawser-repl-proc-'));
  let zks: ZooKeeperServer | null = null;
  let zk: ZkClient | null = null;
  const procs: Proc[] = ['s1', 's2', 's3'].map((id) => ({ id, dir: join(root, id), child: null, grpcPort: 0, httpPort: 0, out: '' }));
  const [s1, s2, s3] = procs as [Proc, Proc, Proc];
  try {
    zks = await startZooKeeper({ dataDir: join(root, 'zk'), tickTime: 250 });
    for (const p of procs) await spawnStore(p, zks.connect);
    zk = await connect(zks.connect);
    const members = '/hawser/groups/g1/members';
    await checkFor('3 member znodes', async () => (await zk!.children(members)).length === 3);
    const data = JSON.parse((await zk.get(`${members}/s1`)).data.toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(data).sort(), ['address', 'httpPort', 'id', 'pid', 'replicas', 'weight']);
    assert.equal(data.address, addr(s1));
    assert.equal(data.replicas, 3);
    assert.equal(data.httpPort, s1.httpPort);

    // Epoch 1: s1 master. An epoch not yet published in ZooKeeper is refused, as forged.
    const refused = await prepare(s1, 1);
    assert.equal(refused.promised, false);
    assert.match(refused.reason, /epoch 1 is above group g1's published epoch 0/);
    await zk.mkdirp('/hawser/groups/g1');
    await zk.create('/hawser/groups/g1/epoch', '1');
    for (const p of procs) assert.equal((await prepare(p, 1)).promised, true);
    assert.equal((await assign(s1, 1, 'master', s1, procs)).accepted, true);
    for (const p of [s2, s3]) assert.equal((await assign(p, 1, 'slave', s1, procs)).accepted, true);
    await zk.mkdirp('/hawser/groups/g1');
    await zk.create('/hawser/groups/g1/master', JSON.stringify({ id: 's1', address: addr(s1), epoch: 1 }));
    await checkFor('s1 master', async () => (await status(s1)).role === 'master');
    const p = new TestSession(addr(s1));
    await p.open();
    const ids: number[] = [];
    for (let i = 0; i < 50; i++) ids.push(p.send('/queue/k', `m${i}`, { id: `ID:k-${i}` }));
    await p.receipted(ids);
    p.close();
    await checkFor('slaves equal', async () => {
      const st = await Promise.all(procs.map(status));
      return st.every((x) => x.lastPosition === st[0]!.lastPosition && x.commitPosition === st[0]!.lastPosition);
    });
    assert.match(await metrics(s1), /hawser_store_role\{role="master"[^}]*\} 1/);

    // kill -9 s1: its znode goes with its session; epoch 2, s2 master.
    await kill(s1);
    await checkFor('s1 znode gone', async () => !(await zk!.children(members)).includes('s1'), 5000);
    await zk.set('/hawser/groups/g1/epoch', '2');
    for (const x of [s2, s3]) assert.equal((await prepare(x, 2)).promised, true);
    assert.equal((await assign(s2, 2, 'master', s2, [s2, s3])).accepted, true);
    assert.equal((await assign(s3, 2, 'slave', s2, [s2, s3])).accepted, true);
    await zk.set('/hawser/groups/g1/master', JSON.stringify({ id: 's2', address: addr(s2), epoch: 2 }));
    const c = new TestSession(addr(s2));
    await c.open();
    c.subscribe('s', '/queue/k', { prefetch: 100 });
    await checkFor('50 from s2', () => c.deliveries().length === 50);
    const acks = c.deliveries().slice(0, 25).map((d) => c.ack(d.deliveryTag));
    await c.receipted(acks);
    c.close();

    // s1 restarts: no Assign, it follows the master znode and catches up.
    await spawnStore(s1, zks.connect);
    await checkFor('s1 caught up by itself', async () => {
      const [a, b] = await Promise.all([status(s1), status(s2)]);
      return a.role === 'slave' && a.lastPosition === b.lastPosition && a.commitPosition === b.commitPosition;
    });

    // Fencing: SIGSTOP s2 (master) with a producer; its session expires; epoch 3 elects s3.
    const q = new TestSession(addr(s2));
    await q.open();
    await q.receipted([q.send('/queue/f', 'before', { id: 'ID:f0' })]);
    s2.child!.kill('SIGSTOP');
    const during = [q.send('/queue/f', 'during-1', { id: 'ID:f1' }), q.send('/queue/f', 'during-2', { id: 'ID:f2' })];
    await checkFor('s2 znode gone', async () => !(await zk!.children(members)).includes('s2'), 5000);
    await zk.set('/hawser/groups/g1/epoch', '3');
    for (const x of [s1, s3]) assert.equal((await prepare(x, 3)).promised, true);
    assert.equal((await assign(s3, 3, 'master', s3, [s1, s3])).accepted, true);
    assert.equal((await assign(s1, 3, 'slave', s3, [s1, s3])).accepted, true);
    await zk.set('/hawser/groups/g1/master', JSON.stringify({ id: 's3', address: addr(s3), epoch: 3 }));
    s2.child!.kill('SIGCONT');
    await checkFor('s2 session ended NOT_MASTER', () => q.events.some((e) => e.kind === 'error' && e.error.code === 'NOT_MASTER'), 10_000);
    assert.ok(!during.some((id) => q.receipts().has(id)), 'the fenced master acknowledged nothing');
    await checkFor('s2 no longer master', async () => (await status(s2)).role !== 'master');
    assert.match(await metrics(s2), /hawser_store_fenced_total(\{[^}]*\})? [1-9]/);
    q.close();
    // s2 re-registered on a new session and follows s3 by the master znode.
    await checkFor('s2 back in ZooKeeper', async () => (await zk!.children(members)).includes('s2'), 10_000);
    await checkFor('s2 follows s3', async () => {
      const [a, b] = await Promise.all([status(s2), status(s3)]);
      return a.role === 'slave' && a.epoch === 3 && a.lastPosition === b.lastPosition;
    }, 10_000);
    const r = new TestSession(addr(s3));
    await r.open();
    r.subscribe('s', '/queue/f');
    await checkFor('the receipted message survived', () => r.deliveries().some((d) => d.message.body.toString() === 'before'));
    r.close();

    // A slave's own pause is not its master's silence: SIGSTOP s1 (a slave of s3) past the master
    // timeout. Resumed, s3's heartbeats wait unread in its socket and s3 has ended its stream as
    // silent: it reports nothing (counted), follows s3 again, and s3 stays master of epoch 3.
    await checkFor('s1 follows s3', async () => (await status(s1)).role === 'slave' && (await status(s1)).epoch === 3, 10_000);
    const reports = () => s1.out.split('\n').filter((l) => l.includes('"msg":"master lost (silent')).length;
    const before = reports();
    s1.child!.kill('SIGSTOP');
    await new Promise((res) => setTimeout(res, 800));
    s1.child!.kill('SIGCONT');
    await checkFor('s1 saw its own stall', async () => /hawser_store_master_lost_not_reported_total(\{[^}]*\})? [1-9]/.test(await metrics(s1)), 10_000);
    await checkFor('s1 follows s3 again', async () => {
      const [a, b] = await Promise.all([status(s1), status(s3)]);
      return a.role === 'slave' && a.epoch === 3 && a.lastPosition === b.lastPosition;
    }, 10_000);
    assert.equal(reports(), before, 'the paused slave reported its master lost');
    assert.equal((await status(s3)).role, 'master');
    assert.equal((await status(s3)).epoch, 3);
  } catch (e) {
    for (const x of procs) process.stderr.write(`--- ${x.id} ---\n${x.out.split('\n').slice(-25).join('\n')}\n`);
    throw e;
  } finally {
    await zk?.close();
    for (const x of procs) {
      if (x.child?.signalCode === null) x.child.kill('SIGCONT');
      await kill(x);
    }
    await zks?.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
