// Active/standby with a real ZooKeeper: two bridge processes for the same link, kill -9 the
// active one mid-stream; the standby takes the lock within seconds and finishes the job —
// queue and topic — with nothing lost and nothing twice.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startZooKeeper, type ZooKeeperServer } from '@hawser/zookeeper-launcher';
import { checkFor, exactlyOnce, TestClient, TestEnv, type Proc } from './testkit';

const env = new TestEnv();
let zk: ZooKeeperServer | undefined;
let g1: Proc & { address: string };
let g2: Proc & { address: string };
const clients: TestClient[] = [];
const client = (address: string, name: string) => { const c = new TestClient(address, name); clients.push(c); return c; };

function bridgeArgs(): string[] {
  return ['--groups', 'g1,g2', '--stores', `g1=${g1.address},g2=${g2.address}`, '--zk.address', zk!.connect, '--zk.path', '/hawser-spec', '--zk.sessionTimeout', '1000'];
}

before(async () => {
  zk = await startZooKeeper({ dataDir: join(env.root, 'zk'), tickTime: 250 });
  [g1, g2] = await Promise.all([env.store('g1'), env.store('g2')]);
});

afterEach((t) => { if ((t as { passed?: boolean }).passed === false) process.stderr.write(env.logs() + '\n'); });

after(async () => {
  for (const c of clients) c.close();
  await env.close();
  await zk?.stop();
});

test('kill -9 of the active bridge: the standby takes over, queue and topic exactly once', async () => {
  const b1 = await env.bridge('b1', bridgeArgs()).start();
  await checkFor(10_000, 50, () => assert.equal(b1.lines('bridge active').length, 1));
  const b2 = await env.bridge('b2', bridgeArgs()).start();
  await checkFor(10_000, 50, () => assert.equal(b2.lines('bridge standby').length, 1));
  assert.equal(b2.lines('bridge active').length, 0, 'only one bridge is active');

  const c = client(g2.address, 'consumer-q');
  const sq = await c.subscribe('/queue/q', { prefetch: 20 });
  const st = await c.subscribe('/topic/d', { durableName: 'd1' });
  const p = client(g1.address, 'producer');
  const q = Array.from({ length: 3000 }, (_, i) => `q-${i}`);
  // wait until the bridge forwards the topic (its subscription in g1 exists)
  await checkFor(10_000, 100, async () => {
    await p.send('/topic/d', `probe-${Date.now()}`, 'probe');
    assert.ok(c.ids(st).length > 0);
  });
  // Topic publications run from before the kill until after the takeover.
  const topicSent: string[] = [];
  let publish = true;
  const publishing = (async () => {
    for (let i = 0; publish; i++) {
      topicSent.push(`d-${i}`);
      await p.send('/topic/d', `d-${i}`, 'x');
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  await Promise.all(q.map((id) => p.send('/queue/q', id, id)));
  await checkFor(15_000, 10, () => assert.ok(c.ids(sq).length > 200));
  const killedAt = Date.now();
  await b1.kill9();
  await checkFor(15_000, 50, () => assert.equal(b2.lines('bridge active').length, 1));
  const takeoverMs = Date.now() - killedAt;
  const publishedAtTakeover = topicSent.length;
  await new Promise((r) => setTimeout(r, 300));
  publish = false;
  await publishing;
  assert.ok(topicSent.length > publishedAtTakeover, 'publications continued after the takeover');
  await checkFor(30_000, 50, () => {
    assert.equal(new Set(c.ids(sq)).size, q.length);
    assert.ok(topicSent.every((id) => c.ids(st).includes(id)), `topic: ${c.ids(st).filter((x) => x.startsWith('d-')).length}/${topicSent.length}`);
  });
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(exactlyOnce(q, c.ids(sq)), { lost: [], duplicates: [], unknown: [] });
  assert.deepEqual(exactlyOnce(topicSent, c.ids(st).filter((x) => x.startsWith('d-'))), { lost: [], duplicates: [], unknown: [] });
  assert.ok(takeoverMs < 10_000, `standby took over in ${takeoverMs} ms`);
  process.stdout.write(`# standby took over ${takeoverMs} ms after kill -9\n`);
});
