// `hawser group remove NAME` against a real ZooKeeper with digest ACLs (zk.auth), real stores
// and real coordinators: refused while a store of the group runs, refused without the
// cluster's credentials, then the group's znodes go and the coordinators stop reporting it
// (Topology.Get and their /metrics); --force removes a group whose store still runs.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, checkFor } from './cluster';
import { ROOT, httpGet } from './harness';

const CLI = join(ROOT, 'tools/cli/dist/main.js');

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the CLI as a process (without the test process's HAWSER_ZK_* variables); killed by PID past 30 s. */
function hawser(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('HAWSER_ZK_')) delete env[k];
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('hawser group remove (real ZooKeeper with zk.auth, real stores and coordinators)', { timeout: 180_000 }, () => {
  let c: Cluster;
  let zk: string[];
  let authFile: string;

  before(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: build it first (npx tsc -b tools/cli)`);
    c = await Cluster.start({ name: 'group-remove', stores: 3, coordinators: 2, gateways: 0, secure: true });
    zk = ['--zk.address', c.zk.connect, '--zk.path', '/hawser'];
    authFile = join(c.h.root, 'zk-auth');
    writeFileSync(authFile, `${c.secure!.zkAuth}\n`, { mode: 0o600 });
  });
  afterEach((t) => c.reportIfFailed(t));
  after(() => c?.close());

  it('lists the group with its live members', async () => {
    const r = await hawser(['group', 'list', ...zk, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { groups: Array<{ name: string; members: string[]; epoch: number; master: string }> };
    const g = doc.groups.find((x) => x.name === 'g1');
    assert.ok(g, r.stdout);
    assert.deepEqual(g.members, ['s1', 's2', 's3']);
    assert.ok(g.epoch >= 1 && ['s1', 's2', 's3'].includes(g.master), r.stdout);
  });

  it('refuses while a store of the group runs, naming the members (exit 1), and leaves the group', async () => {
    const r = await hawser(['group', 'remove', 'g1', ...zk, '--zk.auth', `file:${authFile}`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^hawser group: group 'g1' has 3 live member\(s\): s1, s2, s3 .*Stop them first, or pass --force/);
    assert.equal((await c.group()).members.length, 3);
  });

  it('after the stores stop: refused without the cluster\'s zk.auth, removed with it; the coordinators stop reporting it', async () => {
    await Promise.all(c.stores.map((s) => s.stop()));
    // The stores closed their sessions: their member znodes are gone, the group stays (no-quorum, none alive).
    const before = await checkFor(15_000, 100, async () => {
      const g = await c.group();
      assert.equal(g.members.length, 0, `members still registered: ${g.members.map((m) => m.id).join(', ')}`);
      assert.equal(g.state, 'no-quorum');
      return g;
    });
    assert.match(before.message, /0 of 3/);

    let r = await hawser(['group', 'remove', 'g1', ...zk]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /ZooKeeper refused \(NO_AUTH\).*pass --zk\.auth/);
    r = await hawser(['group', 'remove', 'g1', ...zk, '--zk.auth', 'hawser:not-the-password']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /NO_AUTH/);
    assert.ok((await c.topology()).groups.some((g) => g.name === 'g1'), 'still there after the refusals');

    r = await hawser(['group', 'remove', 'g1', ...zk, '--zk.auth', `file:${authFile}`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { removed: string; epoch: number; forcedMembers: string[]; znodes: number };
    assert.equal(out.removed, 'g1');
    assert.equal(out.epoch, before.epoch);
    assert.deepEqual(out.forcedMembers, []);
    assert.ok(out.znodes >= 3, `deleted ${out.znodes} znodes (group, members, epoch, master)`);

    // Every coordinator drops it: Topology.Get and the group's series on /metrics.
    await checkFor(10_000, 100, async () => {
      const snap = await c.topology();
      assert.deepEqual(snap.groups.map((g) => g.name), [], `topology version ${snap.version} still has groups`);
    });
    for (const co of c.coordinators) {
      await checkFor(10_000, 100, async () => {
        const m = await httpGet(co.httpPort, '/metrics');
        assert.doesNotMatch(m.body, /hawser_coordinator_group_state\{[^}]*group="g1"/, `${co.name} still exports g1's state`);
        assert.doesNotMatch(m.body, /hawser_coordinator_epoch\{[^}]*group="g1"/);
      });
      assert.equal(co.logLines(/group g1 is gone from ZooKeeper/).length, 1, `${co.name} logged the removal once`);
    }
    r = await hawser(['group', 'list', ...zk]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'no groups under /hawser/groups\n');
    r = await hawser(['group', 'remove', 'g1', ...zk, '--zk.auth', `file:${authFile}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no group 'g1' under \/hawser\/groups/);
  });

  it('--force removes a group whose store still runs', async () => {
    const g2 = await Cluster.join(c, { group: 'g2', stores: 1, replicas: 1, gateways: 0 });
    await checkFor(10_000, 100, async () => assert.ok((await c.topology()).groups.some((g) => g.name === 'g2' && g.state === 'ok')));
    let r = await hawser(['group', 'remove', 'g2', ...zk, '--zk.auth', `file:${authFile}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /group 'g2' has 1 live member\(s\): g2-s1/);
    r = await hawser(['group', 'remove', 'g2', ...zk, '--zk.auth', `file:${authFile}`, '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^removed group g2 \(epoch \d+, \d+ znodes\); --force: deleted the member znodes of g2-s1/);
    await checkFor(10_000, 100, async () => assert.ok(!(await c.topology()).groups.some((g) => g.name === 'g2'), 'g2 still reported'));
    await g2.close();
  });

  it('usage errors and an unreachable ZooKeeper', async () => {
    let r = await hawser(['group', 'remove']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /group remove needs the group NAME/);
    r = await hawser(['group', 'remove', '../x', ...zk]);
    assert.equal(r.code, 2);
    r = await hawser(['group', 'drop', 'g1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown group subcommand 'drop'/);
    r = await hawser(['group', 'list', '--zk.address', '127.0.0.1:1', '--timeout', '1500']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot reach ZooKeeper at 127\.0\.0\.1:1/);
  });
});
