// End to end with real processes: two standalone groups (one store each, `stores` static
// masters, no ZooKeeper lock) and a duplex bridge between them. Clients speak Broker.Session
// to the stores directly.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { checkFor, exactlyOnce, TestClient, TestEnv, type Proc } from './testkit';

const env = new TestEnv();
let g1: Proc & { address: string };
let g2: Proc & { address: string };
let bridge: Proc;
const clients: TestClient[] = [];
const client = (address: string, name: string) => { const c = new TestClient(address, name); clients.push(c); return c; };

function status(p: Proc): Promise<{ state: string; groups: Record<string, { up: boolean; subscriptions: Array<{ target: string; destination: string }> }> }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: p.ready.httpPort as number, path: '/status', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    }).on('error', reject);
  });
}

async function subscribed(p: Proc, source: string, target: string, destination: string): Promise<void> {
  await checkFor(10_000, 50, async () => {
    const s = await status(p);
    if (!s.groups[source]?.subscriptions.some((x) => x.target === target && x.destination === destination)) throw new Error(`no ${source}>${target} ${destination}: ${JSON.stringify(s.groups)}`);
  });
}

before(async () => {
  [g1, g2] = await Promise.all([env.store('g1'), env.store('g2')]);
  bridge = env.bridge('b1', ['--groups', 'g1,g2', '--stores', `g1=${g1.address},g2=${g2.address}`, '--zk.address=']);
  await bridge.start();
  await checkFor(10_000, 50, () => assert.equal(bridge.lines('bridge active').length, 1));
});

afterEach((t) => { if ((t as { passed?: boolean }).passed === false) process.stderr.write(env.logs() + '\n'); });

after(async () => {
  for (const c of clients) c.close();
  await env.close();
});

test('queue: messages stranded in g1 move to a consumer in g2, each once, with visited/hops headers', async () => {
  const p = client(g1.address, 'producer-a');
  const sent = Array.from({ length: 50 }, (_, i) => `a-${i}`);
  for (const id of sent) await p.send('/queue/a', id, `body ${id}`);
  const c = client(g2.address, 'consumer-a');
  const sub = await c.subscribe('/queue/a');
  await checkFor(15_000, 50, () => assert.equal(c.ids(sub).length, sent.length));
  assert.deepEqual(exactlyOnce(sent, c.ids(sub)), { lost: [], duplicates: [], unknown: [] });
  const first = c.received.get(sub)![0]!.message;
  assert.equal(first.headers['hawser-visited'], 'g1');
  assert.equal(first.headers['hawser-hops'], '1');
  assert.equal(first.body.toString(), `body ${first.id}`);
});

test('queue, duplex: produced in g2 while the consumer is in g1', async () => {
  const c = client(g1.address, 'consumer-b');
  const sub = await c.subscribe('/queue/b');
  await subscribed(bridge, 'g2', 'g1', '/queue/b');
  const p = client(g2.address, 'producer-b');
  const sent = Array.from({ length: 30 }, (_, i) => `b-${i}`);
  for (const id of sent) await p.send('/queue/b', id, id);
  await checkFor(15_000, 50, () => assert.equal(c.ids(sub).length, sent.length));
  assert.deepEqual(exactlyOnce(sent, c.ids(sub)), { lost: [], duplicates: [], unknown: [] });
});

test('queue: consumers in both groups share the work, nothing twice, nothing ping-pongs', async () => {
  const c1 = client(g1.address, 'consumer-c1');
  const c2 = client(g2.address, 'consumer-c2');
  const s1 = await c1.subscribe('/queue/c', { prefetch: 5 });
  const s2 = await c2.subscribe('/queue/c', { prefetch: 5 });
  await subscribed(bridge, 'g1', 'g2', '/queue/c');
  await subscribed(bridge, 'g2', 'g1', '/queue/c');
  const p = client(g1.address, 'producer-c');
  const sent = Array.from({ length: 200 }, (_, i) => `c-${i}`);
  await Promise.all(sent.map((id) => p.send('/queue/c', id, id)));
  await checkFor(15_000, 50, () => assert.equal(c1.ids(s1).length + c2.ids(s2).length, sent.length));
  await new Promise((r) => setTimeout(r, 500)); // nothing more may arrive
  assert.deepEqual(exactlyOnce(sent, [...c1.ids(s1), ...c2.ids(s2)]), { lost: [], duplicates: [], unknown: [] });
});

test('topic: a subscriber in each group receives every publication of both groups once', async () => {
  const c1 = client(g1.address, 'sub-t1');
  const c2 = client(g2.address, 'sub-t2');
  const s1 = await c1.subscribe('/topic/t');
  const s2 = await c2.subscribe('/topic/t');
  await subscribed(bridge, 'g1', 'g2', '/topic/t');
  await subscribed(bridge, 'g2', 'g1', '/topic/t');
  const p1 = client(g1.address, 'pub-t1');
  const p2 = client(g2.address, 'pub-t2');
  const sent: string[] = [];
  for (let i = 0; i < 20; i++) {
    sent.push(`t1-${i}`, `t2-${i}`);
    await p1.send('/topic/t', `t1-${i}`, 'x');
    await p2.send('/topic/t', `t2-${i}`, 'x');
  }
  await checkFor(15_000, 50, () => { assert.equal(c1.ids(s1).length, sent.length); assert.equal(c2.ids(s2).length, sent.length); });
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(exactlyOnce(sent, c1.ids(s1)), { lost: [], duplicates: [], unknown: [] });
  assert.deepEqual(exactlyOnce(sent, c2.ids(s2)), { lost: [], duplicates: [], unknown: [] });
});

test('bridge kill -9 mid-stream, then restart: nothing lost, nothing twice', async () => {
  const p = client(g1.address, 'producer-k');
  const sent = Array.from({ length: 2000 }, (_, i) => `k-${i}`);
  await Promise.all(sent.map((id) => p.send('/queue/k', id, id)));
  const c = client(g2.address, 'consumer-k');
  const sub = await c.subscribe('/queue/k', { prefetch: 50 });
  await checkFor(15_000, 10, () => assert.ok(c.ids(sub).length > 100, `only ${c.ids(sub).length} so far`));
  await bridge.kill9();
  const atKill = c.ids(sub).length;
  await bridge.start();
  await checkFor(30_000, 50, () => assert.equal(new Set(c.ids(sub)).size, sent.length));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(atKill < sent.length, 'the kill happened mid-stream');
  assert.deepEqual(exactlyOnce(sent, c.ids(sub)), { lost: [], duplicates: [], unknown: [] });
});

test('queue consumer leaves g2 mid-stream: what is left in g1, and what g2 got back, reach a new consumer in g1 once (replay with a derived id)', async () => {
  const p = client(g1.address, 'producer-m');
  const sent = Array.from({ length: 1500 }, (_, i) => `m-${i}`);
  await Promise.all(sent.map((id) => p.send('/queue/m', id, id)));
  const far = client(g2.address, 'consumer-m-far');
  const sf = await far.subscribe('/queue/m', { prefetch: 10 });
  await checkFor(15_000, 5, () => assert.ok(far.ids(sf).length > 50));
  far.close(); // demand in g2 gone: the bridge drains its subscription in g1
  await checkFor(10_000, 50, async () => {
    const s = await status(bridge);
    assert.ok(!s.groups.g1!.subscriptions.some((x) => x.destination === '/queue/m'), 'bridge subscription still there');
  });
  const near = client(g1.address, 'consumer-m-near');
  const sn = await near.subscribe('/queue/m');
  await checkFor(15_000, 50, () => assert.equal(far.ids(sf).length + near.ids(sn).length, sent.length));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(near.ids(sn).length > 0 && far.ids(sf).length < sent.length, 'both sides consumed');
  assert.deepEqual(exactlyOnce(sent, [...far.ids(sf), ...near.ids(sn)]), { lost: [], duplicates: [], unknown: [] });
});

test('metrics: hawser_bridge_* are served', async () => {
  const text = await new Promise<string>((resolve, reject) => {
    get({ host: '127.0.0.1', port: bridge.ready.httpPort as number, path: '/metrics' }, (res) => { let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve(b)); }).on('error', reject);
  });
  for (const name of ['hawser_bridge_forwarded_total', 'hawser_bridge_inflight', 'hawser_bridge_forward_seconds', 'hawser_bridge_demand', 'hawser_bridge_link_state', 'hawser_bridge_lock_holder']) {
    assert.match(text, new RegExp(`^${name}`, 'm'), name);
  }
  assert.match(text, /hawser_bridge_link_state\{[^}]*link="g1-g2"[^}]*\} 2/);
});
