// End-to-end spec of the coordinator: a real ZooKeeper (tools/zookeeper), two coordinator
// processes (dist/main.js), and fake stores (./fake-store: gRPC Member + Admin, ephemeral
// member znodes). Checks elections, failover, no-quorum, rejoin, coordinator takeover and
// the Topology.Watch stream.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startZooKeeper, type ZooKeeperServer } from '@hawser/zookeeper-launcher';
import { grpc, topologyService, CHANNEL_OPTIONS } from '@hawser/proto';
import type { TopologySnapshot, GroupInfo, MasterLost, ReportReply, WatchRequest } from '@hawser/proto';
import { connect as zkConnect, type ZkClient } from '@hawser/zk';
import { FakeStore } from './fake-store';

async function checkFor<T>(what: string, deadlineMs: number, fn: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`checkFor: ${what} not reached in ${deadlineMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

class CoordinatorProcess {
  child!: ChildProcess;
  grpcPort = 0;
  httpPort = 0;
  exited = false;
  constructor(readonly id: string, readonly args: string[], readonly logFile: string) {}
  async start(): Promise<void> {
    this.child = spawn(process.execPath, [join(__dirname, 'main.js'), '--coordinator.id', this.id, '--grpc.port', '0', '--http.port', '0', ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(this.logFile);
    this.child.stderr!.pipe(log);
    let buf = '';
    this.child.once('exit', () => { this.exited = true; });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.id} not ready in 20 s; see ${this.logFile}`)), 20_000);
      this.child.stdout!.on('data', (c: Buffer) => {
        log.write(c);
        buf += c.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          try {
            const j = JSON.parse(line) as { msg?: string; grpcPort?: number; httpPort?: number };
            if (j.msg === 'coordinator ready') { this.grpcPort = j.grpcPort!; this.httpPort = j.httpPort!; clearTimeout(t); resolve(); }
          } catch { /* not JSON */ }
        }
      });
      this.child.once('exit', (code) => { clearTimeout(t); reject(new Error(`${this.id} exited with ${code}; see ${this.logFile}`)); });
    });
  }
  kill9(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((r) => { this.child.once('exit', () => r()); this.child.kill('SIGKILL'); });
  }
  stop(): Promise<number | null> {
    if (this.exited) return Promise.resolve(this.child.exitCode);
    return new Promise((r) => {
      const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      this.child.once('exit', (code) => { clearTimeout(t); r(code); });
      this.child.kill('SIGTERM');
    });
  }
}

/** A Topology.Watch stream kept open against one coordinator. */
class Watcher {
  readonly snapshots: TopologySnapshot[] = [];
  readonly client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  private call: grpc.ClientReadableStream<TopologySnapshot>;
  ended = false;
  constructor(port: number) {
    const Ctor = topologyService();
    this.client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as Watcher['client'];
    this.call = this.client.Watch({ group: '' }) as grpc.ClientReadableStream<TopologySnapshot>;
    this.call.on('data', (s: TopologySnapshot) => this.snapshots.push(s));
    this.call.on('error', () => { this.ended = true; });
    this.call.on('end', () => { this.ended = true; });
  }
  get latest(): TopologySnapshot | undefined { return this.snapshots[this.snapshots.length - 1]; }
  group(name: string): GroupInfo | undefined { return this.latest?.groups.find((g) => g.name === name); }
  reportMasterLost(req: MasterLost): Promise<ReportReply> {
    return new Promise((resolve, reject) => {
      (this.client.ReportMasterLost as (r: MasterLost, o: grpc.CallOptions, cb: (e: Error | null, r: ReportReply) => void) => void)(
        req, { deadline: Date.now() + 3000 }, (e, r) => (e ? reject(e) : resolve(r)));
    });
  }
  get(group: string): Promise<TopologySnapshot> {
    return new Promise((resolve, reject) => {
      (this.client.Get as (r: WatchRequest, o: grpc.CallOptions, cb: (e: Error | null, r: TopologySnapshot) => void) => void)(
        { group }, { deadline: Date.now() + 3000 }, (e, r) => (e ? reject(e) : resolve(r)));
    });
  }
  close(): void { this.call.cancel(); this.client.close(); }
}

describe('coordinator with real ZooKeeper and fake stores', { timeout: 180_000 }, () => {
  let dir: string;
  let zk: ZooKeeperServer;
  const coordinators: CoordinatorProcess[] = [];
  const watchers: Watcher[] = [];
  const stores: FakeStore[] = [];
  const zkPath = '/hawser-e2e';

  const store = async (id: string, group: string, lastEpoch: number, lastPosition: number, weight = 1) => {
    const s = await new FakeStore({ id, group, zk: zk.connect, zkPath, replicas: 3, weight, lastEpoch, lastPosition, sessionTimeoutMs: 1000 }).start();
    stores.push(s);
    return s;
  };
  /** A watcher on a live coordinator. */
  const live = () => watchers.find((w, i) => !coordinators[i].exited && !w.ended)!;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hawser-coord-e2e-'));
    zk = await startZooKeeper({ dataDir: join(dir, 'zk'), tickTime: 250 });
    // prepareTimeoutMs long: an election that waited for a member that cannot answer would show (chaos heal times).
    const args = ['--zk.address', zk.connect, '--zk.path', zkPath, '--zk.sessionTimeout', '1000', '--status.intervalMs', '200', '--election.retryMs', '200', '--election.prepareTimeoutMs', '10000'];
    for (const id of ['c1', 'c2']) {
      const c = new CoordinatorProcess(id, args, join(dir, `${id}.log`));
      coordinators.push(c);
      await c.start();
      watchers.push(new Watcher(c.grpcPort));
    }
    // both registered, exactly one leads
    await checkFor('two coordinators, one leader', 15_000, () => {
      const s = watchers[1].latest;
      return s && s.coordinators.length === 2 && s.coordinators.filter((c) => c.leader).length === 1;
    });
  });

  after(async () => {
    for (const w of watchers) w.close();
    for (const s of stores) await s.stop();
    for (const c of coordinators) await c.kill9();
    await zk?.stop();
    if (process.env.KEEP_LOGS) console.log(`logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  let firstEpoch = 0;
  it('elects the member with the highest (lastEpoch, lastPosition); the others follow it', async () => {
    // s2 registers first: an election starts as soon as any two are up, and s2 beats both
    // s1 (same epoch, shorter log) and s3 (longer log of an older epoch)
    const b = await store('s2', 'g1', 1, 12);
    const [a, c] = [await store('s1', 'g1', 1, 10), await store('s3', 'g1', 0, 50)];
    const g = await checkFor('g1 ok', 15_000, () => { const g = live().group('g1'); return g?.state === 'ok' && g; });
    assert.equal(g.masterId, 's2');
    assert.equal(g.masterAddress, b.address);
    // Usually epoch 1; under load a Prepare can time out and the election run again with the
    // next epoch, which is correct too: what matters is who won and that epochs only grow.
    assert.ok(g.epoch >= 1, `epoch ${g.epoch}`);
    firstEpoch = g.epoch;
    assert.equal(g.replicas, 3);
    assert.equal(b.role, 'master');
    await checkFor('slaves assigned', 5000, () => a.role === 'slave' && c.role === 'slave');
    assert.equal(a.masterId, 's2');
    assert.equal(c.masterAddress, b.address);
    // the followers' view agrees
    await checkFor('both coordinators agree', 5000, () => watchers.every((w) => w.group('g1')?.masterId === 's2'));
    // roles and positions from Admin.Status, lag from the master's last position
    const rows = () => live().group('g1')?.members.map((m) => [m.id, m.role, m.lastPosition, m.lagEntries]);
    await checkFor('roles, positions and lag in the topology', 5000, () => JSON.stringify(rows()) === JSON.stringify([['s1', 'slave', 10, 2], ['s2', 'master', 12, 0], ['s3', 'slave', 50, 0]]))
      .catch((e: Error) => { throw new Error(`${e.message}; last: ${JSON.stringify(rows())}`); });
  });

  it('a killed master\'s znode vanishing starts a new election with a higher epoch', async () => {
    const s2 = stores.find((s) => s.opts.id === 's2')!;
    await s2.stop();
    const g = await checkFor('new master', 10_000, () => { const g = live().group('g1'); return g?.state === 'ok' && g.masterId !== 's2' && g; });
    assert.ok(g.epoch > firstEpoch, `epoch ${g.epoch} after ${firstEpoch}`);
    assert.equal(g.masterId, 's1'); // s1 (1,10) beats s3 (0,50)
    // How fast this happens is the failover benchmark's business (docs/benchmarks.md).
  });

  it('a returning old master is assigned slave of the current master', async () => {
    const s2 = await store('s2', 'g1', 1, 12);
    const epoch = live().group('g1')!.epoch;
    await checkFor('s2 rejoined as slave', 10_000, () => s2.role === 'slave' && s2.epoch === epoch && s2.masterId === 's1');
    const g = await checkFor('topology shows s2 as slave', 5000, () => { const g = live().group('g1'); return g?.members.find((m) => m.id === 's2')?.role === 'slave' && g; });
    assert.equal(g.masterId, 's1');
  });

  it('a master whose status says fenced is not named, without an election; named again once it serves (D6)', async () => {
    const before = live().group('g1')!;
    const m = stores.find((s) => s.opts.id === before.masterId && s.role === 'master')!;
    m.role = 'fenced'; // a store master out of reach of ZooKeeper for its session timeout
    const hidden = await checkFor('master not named', 5000, () => { const g = live().group('g1'); return g && g.masterId === '' && g; });
    assert.equal(hidden.epoch, before.epoch, 'no election for it');
    assert.equal(hidden.masterAddress, '');
    assert.match(hidden.message, new RegExp(`master ${before.masterId} of epoch ${before.epoch} is fenced`));
    m.role = 'master'; // the same session came back: it serves again in its epoch
    const back = await checkFor('master named again', 5000, () => { const g = live().group('g1'); return g?.masterId === before.masterId && g; });
    assert.equal(back.epoch, before.epoch);
    assert.equal(back.state, 'ok');
  });

  it('a quorum of masterLost reports for the current epoch starts an election', async () => {
    const before = live().group('g1')!;
    assert.equal(before.masterId, 's1');
    const w = watchers[0]; // any coordinator: followers forward to the leader
    const r1 = await w.reportMasterLost({ group: 'g1', reporter: 's2', epoch: before.epoch, masterId: 's1' });
    assert.equal(r1.accepted, true);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(live().group('g1')!.epoch, before.epoch, 'one slave of three does not depose the master');
    const stale = await w.reportMasterLost({ group: 'g1', reporter: 's3', epoch: before.epoch - 1, masterId: 's1' });
    assert.equal(stale.accepted, false);
    await w.reportMasterLost({ group: 'g1', reporter: 's3', epoch: before.epoch, masterId: 's1' });
    const g = await checkFor('re-election', 10_000, () => { const g = live().group('g1'); return g?.state === 'ok' && g.epoch > before.epoch && g; });
    assert.equal(g.epoch, before.epoch + 1);
    // s1 still answers (and holds the longest log of the current epoch): the master its slaves
    // lost is not elected again while the others are a quorum (a flapping link's second election).
    assert.notEqual(g.masterId, 's1');
  });

  it('a master that cannot answer (stopped, cut off; its znode still there) does not hold the election: decided on a quorum of promises', async () => {
    const before = await checkFor('g1 ok with two slaves', 10_000, () => {
      const g = live().group('g1');
      return g?.state === 'ok' && stores.filter((s) => s.opts.group === 'g1' && s.role === 'slave' && s.running && s.epoch === g.epoch).length === 2 && g;
    });
    const old = stores.find((s) => s.opts.id === before.masterId && s.role === 'master' && s.running)!;
    const others = stores.filter((s) => s.opts.group === 'g1' && s !== old && s.role === 'slave' && s.running);
    old.unresponsive = true; // what a SIGSTOPped or isolated master looks like to Prepare and Assign
    try {
      const w = watchers[0];
      const t0 = Date.now();
      for (const s of others) await w.reportMasterLost({ group: 'g1', reporter: s.opts.id, epoch: before.epoch, masterId: old.opts.id });
      // Without deciding on a quorum the election waits election.prepareTimeoutMs (10 s here) for the old master.
      const g = await checkFor('new master while the old one never answers', 5000, () => { const g = live().group('g1'); return g?.state === 'ok' && g.epoch > before.epoch && g.masterId !== old.opts.id && g; });
      assert.ok(others.some((s) => s.opts.id === g.masterId), `master ${g.masterId}`);
      assert.ok(old.calls.some((c) => c.method === 'Prepare' && (c.req as { epoch: number }).epoch === g.epoch), 'the old master was asked too');
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      old.unresponsive = false;
    }
    // Once it answers again it follows the new master (status: not a slave of this epoch).
    const epoch = live().group('g1')!.epoch;
    await checkFor('old master rejoined as slave', 10_000, () => old.role === 'slave' && old.epoch === epoch);
  });

  it('no-quorum with 1 of 3 alive, healed when one returns', async () => {
    const x = [await store('x1', 'g2', 0, 5), await store('x2', 'g2', 0, 3), await store('x3', 'g2', 0, 1)];
    await checkFor('g2 ok', 10_000, () => live().group('g2')?.masterId === 'x1');
    await x[0].stop();
    await x[1].stop();
    const g = await checkFor('g2 no-quorum', 10_000, () => { const g = live().group('g2'); return g?.state === 'no-quorum' && g; });
    assert.equal(g.message, 'Not enough cluster members: 1 of 3 alive, quorum is 2');
    assert.equal(g.masterId, '');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(live().group('g2')!.state, 'no-quorum', 'stays no-quorum');
    await store('x2', 'g2', 0, 3);
    const healed = await checkFor('g2 healed', 10_000, () => { const g = live().group('g2'); return g?.state === 'ok' && g; });
    assert.equal(healed.masterId, 'x2'); // (0,3) beats x3's (0,1)
    assert.ok(healed.epoch >= 2);
    // the stream carried the transitions
    const states = watchers[0].snapshots.map((s) => s.groups.find((gg) => gg.name === 'g2')?.state).filter(Boolean);
    const i = states.indexOf('no-quorum');
    assert.ok(i >= 0 && states.indexOf('ok', i) > i, `states seen: ${states.join(',')}`);
    const versions = watchers[0].snapshots.map((s) => s.version);
    assert.deepEqual(versions, [...versions].sort((p, q) => p - q), 'versions increase');
  });

  it('a diverged member (longest log, refuses Prepare) is not elected and not re-assigned again and again', async () => {
    const d1 = await new FakeStore({ id: 'd1', group: 'gd', zk: zk.connect, zkPath, replicas: 3, lastEpoch: 5, lastPosition: 100, sessionTimeoutMs: 1000, diverged: true }).start();
    stores.push(d1);
    await store('d2', 'gd', 1, 10);
    await store('d3', 'gd', 1, 5);
    const g = await checkFor('gd ok', 10_000, () => { const g = live().group('gd'); return g?.state === 'ok' && g; });
    assert.equal(g.masterId, 'd2', 'the diverged member\'s longer log does not win');
    assert.ok(d1.calls.some((c) => c.method === 'Prepare'), 'it was asked to promise and refused');
    // The election's own Assign(slave) goes to every live member (once, refused). After it the
    // leader polls d1's status (role diverged) every 200 ms and leaves it alone: a member that
    // is not a slave of the current epoch is otherwise told again every second.
    const count = (m: string) => d1.calls.filter((c) => c.method === m).length;
    const polls = count('Status');
    await checkFor('d1 polled once', 10_000, () => count('Status') >= polls + 1);
    const assigns = count('Assign');
    assert.ok(assigns <= 1, `${assigns} Assigns at the election`);
    await checkFor('d1 polled 8 more times', 10_000, () => count('Status') >= polls + 9);
    assert.equal(count('Assign'), assigns, 'a diverged member is not re-assigned');
    await checkFor('topology shows d1 diverged', 5000, () => live().group('gd')?.members.find((m) => m.id === 'd1')?.role === 'diverged');
  });

  it('bridges: lock znodes per link, the lowest sequence active; deleting it promotes the next', async () => {
    // Stand-ins for two bridge processes of link g1-g2 (apps/bridge/src/lock.ts writes the
    // same znodes and data), each with its own session like the real processes.
    const clients: ZkClient[] = [await zkConnect(zk.connect, { sessionTimeoutMs: 4000 }), await zkConnect(zk.connect, { sessionTimeoutMs: 4000 })];
    try {
      const dir = `${zkPath}/bridges/g1-g2`;
      await clients[0].mkdirp(dir);
      const info = (id: string, pid: number, httpPort: number) => JSON.stringify({ id, pid, host: 'h-' + id, httpPort, link: 'g1-g2', groups: ['g1', 'g2'] });
      const first = await clients[0].create(`${dir}/lock-`, info('b1', 501, 8191), 'ephemeral_sequential');
      await clients[1].create(`${dir}/lock-`, info('b2', 502, 8192), 'ephemeral_sequential');
      const rows = () => JSON.stringify(live().latest?.bridges?.map((b) => [b.link, b.id, b.active]));
      await checkFor('two bridges, b1 active', 5000, () => rows() === JSON.stringify([['g1-g2', 'b1', true], ['g1-g2', 'b2', false]]))
        .catch((e: Error) => { throw new Error(`${e.message}; last: ${rows()}`); });
      assert.deepEqual(live().latest!.bridges![1], { id: 'b2', link: 'g1-g2', active: false, pid: 502, host: 'h-b2', httpPort: 8192, groups: ['g1', 'g2'] });
      // both coordinators (leader and follower) mirror them
      await checkFor('both coordinators list the bridges', 5000, () => watchers.every((w) => w.latest?.bridges?.length === 2));
      // Topology.Get for one group keeps the bridges that link it, only them
      assert.equal((await live().get('g1')).bridges?.length, 2);
      assert.equal((await live().get('g9')).bridges?.length, 0);
      // the active bridge's znode goes (kill -9 + session expiry, or SIGTERM): the standby is active
      await clients[0].delete(first);
      await checkFor('b2 active alone', 5000, () => rows() === JSON.stringify([['g1-g2', 'b2', true]]))
        .catch((e: Error) => { throw new Error(`${e.message}; last: ${rows()}`); });
      // a closed session removes the last one
      await clients[1].close();
      await checkFor('no bridges', 5000, () => rows() === '[]').catch((e: Error) => { throw new Error(`${e.message}; last: ${rows()}`); });
    } finally {
      for (const c of clients) await c.close().catch(() => undefined);
    }
  });

  it('metrics: the leader reports leadership, elections and group state', async () => {
    const snap = live().latest!;
    const leaderPid = snap.coordinators.find((c) => c.leader)!.pid;
    const leader = coordinators.find((c) => c.child.pid === leaderPid)!;
    const follower = coordinators.find((c) => c !== leader)!;
    const m = (await httpGet(leader.httpPort, '/metrics')).split('\n').filter((l) => l.startsWith('hawser_coordinator_')).join('\n');
    assert.match(m, /^hawser_coordinator_leader\{[^}]*\} 1$/m);
    assert.match(m, /^hawser_coordinator_elections_total\{[^}]*group="g1"[^}]*result="ok"[^}]*\} [1-9]/m);
    assert.match(m, /^hawser_coordinator_failovers_total\{[^}]*group="g1"[^}]*\} [1-9]/m);
    assert.match(m, /^hawser_coordinator_election_seconds_count\{[^}]*group="g1"[^}]*\} [1-9]/m);
    assert.match(m, /^hawser_coordinator_group_state\{[^}]*group="g2"[^}]*state="ok"[^}]*\} 1$/m);
    assert.match(m, new RegExp(`^hawser_coordinator_epoch\\{[^}]*group="g1"[^}]*\\} ${snap.groups.find((g) => g.name === 'g1')!.epoch}$`, 'm'));
    assert.match(await httpGet(follower.httpPort, '/metrics'), /^hawser_coordinator_leader\{[^}]*\} 0$/m);
  });

  it('the leader frozen past its ZooKeeper session (SIGSTOP): the other leads; once resumed it opens a new session, follows, and serves the current topology', async () => {
    const snap = live().latest!;
    const leaderPid = snap.coordinators.find((c) => c.leader)!.pid;
    const idx = coordinators.findIndex((c) => c.child.pid === leaderPid);
    assert.ok(idx >= 0);
    const frozen = coordinators[idx];
    const other = watchers[1 - idx];
    const g1 = other.group('g1')!;
    process.kill(frozen.child.pid!, 'SIGSTOP');
    try {
      // Its session (1 s) expires: its znodes go, the other coordinator leads alone.
      await checkFor('survivor leads alone', 15_000, () => { const s = other.latest; return s && s.coordinators.length === 1 && s.coordinators[0].leader && s.coordinators[0].pid !== leaderPid; });
    } finally {
      process.kill(frozen.child.pid!, 'SIGCONT');
    }
    // Resumed: it learns the session expired, opens a new one and registers as a follower.
    await checkFor('two coordinators again, the survivor still leading', 15_000, () => {
      const s = other.latest;
      return s && s.coordinators.length === 2 && s.coordinators.find((c) => c.leader)?.pid !== leaderPid;
    });
    // Its own view (Topology.Get on it) is the current one, not the state it froze with.
    const w = new Watcher(frozen.grpcPort);
    watchers.push(w);
    await checkFor('resumed coordinator serves the current topology', 10_000, async () => {
      const t = await w.get('g1');
      const g = t.groups.find((x) => x.name === 'g1');
      return g && g.state === 'ok' && g.masterId === g1.masterId && g.epoch === g1.epoch && t.coordinators.length === 2;
    });
    assert.match(await httpGet(frozen.httpPort, '/metrics'), /^hawser_coordinator_leader\{[^}]*\} 0$/m);
  });

  it('the leader coordinator killed: the other takes over and runs the next election', async () => {
    const snap = live().latest!;
    const leaderPid = snap.coordinators.find((c) => c.leader)!.pid;
    const idx = coordinators.findIndex((c) => c.child.pid === leaderPid);
    assert.ok(idx >= 0);
    await coordinators[idx].kill9();
    const other = watchers[1 - idx];
    await checkFor('survivor leads', 10_000, () => { const s = other.latest; return s && s.coordinators.length === 1 && s.coordinators[0].leader; });
    const before = other.group('g1')!;
    const master = stores.find((s) => s.opts.id === before.masterId && s.role === 'master' && s.running);
    assert.ok(master, `master ${before.masterId} (epoch ${before.epoch}) among ${JSON.stringify(stores.map((s) => [s.opts.id, s.role, s.epoch, s.running]))}`);
    await master.stop();
    const g = await checkFor('g1 re-elected by the survivor', 10_000, () => { const g = other.group('g1'); return g?.state === 'ok' && g.epoch > before.epoch && g; });
    assert.notEqual(g.masterId, before.masterId);
  });
});
