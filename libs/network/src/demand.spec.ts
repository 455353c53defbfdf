// Scenario tables for the bridge's demand rules: each row is a demand snapshot (per group,
// `dest:local[/network][@depth]`, '?' = unknown) and the subscriptions that must result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Link, LinkConfigError, diffSubscriptions, directions, type BridgeSubscription, type DemandSnapshot, type DestinationDemand, type LinkOptions } from './demand';

function link(extra: Partial<LinkOptions> = {}): Link {
  return new Link({
    link: 'L', groups: ['g1', 'g2'], duplex: true, networkTTL: 1, dynamicOnly: false,
    staticallyIncludedDestinations: [], excludedDestinations: [], conduitSubscriptions: true,
    decreaseNetworkConsumerPriority: true, ...extra,
  });
}

/** "g1: /queue/a:1 /topic/t:0/1@5; g2: ?" */
function snap(text: string): DemandSnapshot {
  const m = new Map<string, DestinationDemand[] | undefined>();
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const [g, rest] = part.split(':', 2).map((s) => s.trim()) as [string, string];
    const body = part.slice(part.indexOf(':') + 1).trim();
    void rest;
    if (body === '?') { m.set(g, undefined); continue; }
    m.set(g, body.split(/\s+/).filter(Boolean).map((tok) => {
      const mm = /^(.+?):(\d+)(?:\/(\d+))?(?:@(\d+))?$/.exec(tok);
      if (!mm) throw new Error(`bad token ${tok}`);
      return { name: mm[1]!, localConsumers: Number(mm[2]), networkConsumers: Number(mm[3] ?? 0), depth: Number(mm[4] ?? 0) };
    }));
  }
  return m;
}

const keys = (subs: BridgeSubscription[]) => subs.map((s) => s.key).join(' ');

interface Row { name: string; opts?: Partial<LinkOptions>; demand: string; previous?: string; want: string }

const SCENARIOS: Row[] = [
  { name: 'no consumers anywhere: nothing', demand: 'g1: /queue/a:0@10; g2: /queue/a:0', want: '' },
  { name: 'queue demand in g2 pulls from g1 (incl. stranded messages)', demand: 'g1: /queue/a:0@10; g2: /queue/a:1', want: 'g1>g2:/queue/a' },
  { name: 'queue demand in g1 pulls from g2 (duplex)', demand: 'g1: /queue/a:2; g2: /queue/a:0@3', want: 'g2>g1:/queue/a' },
  { name: 'consumers on both sides: both directions (share the work)', demand: 'g1: /queue/a:1; g2: /queue/a:1', want: 'g1>g2:/queue/a g2>g1:/queue/a' },
  { name: 'queue unknown in the source: still subscribed (created on demand)', demand: 'g1: ; g2: /queue/a:1', want: 'g1>g2:/queue/a' },
  { name: 'network consumers are not demand (no feedback loop)', demand: 'g1: /queue/a:0/1; g2: /queue/a:0/1', want: '' },
  { name: 'not duplex: only g1 -> g2', opts: { duplex: false }, demand: 'g1: /queue/a:1; g2: /queue/a:1', want: 'g1>g2:/queue/a' },
  { name: 'topic fan-out to several groups', opts: { groups: ['g1', 'g2', 'g3'] }, demand: 'g1: /topic/t:0; g2: /topic/t:1; g3: /topic/t:2', want: 'g1>g2:/topic/t g1>g3:/topic/t g2>g3:/topic/t g3>g2:/topic/t' },
  { name: 'excluded wildcard *', opts: { excludedDestinations: ['/queue/tmp.*'] }, demand: 'g1: ; g2: /queue/tmp.x:1 /queue/tmp.x.y:1', want: 'g1>g2:/queue/tmp.x.y' },
  { name: 'excluded wildcard > (also the bare prefix)', opts: { excludedDestinations: ['secret.>'] }, demand: 'g1: ; g2: /queue/secret:1 /topic/secret.a.b:1 /queue/public:1', want: 'g1>g2:/queue/public' },
  { name: 'static include without demand, both ways', opts: { staticallyIncludedDestinations: ['/queue/always'] }, demand: 'g1: ; g2: ', want: 'g1>g2:/queue/always g2>g1:/queue/always' },
  { name: 'static wildcard include applies to known names', opts: { staticallyIncludedDestinations: ['/queue/orders.>'] }, demand: 'g1: /queue/orders.eu:0@4 /queue/other:0; g2: ', want: 'g1>g2:/queue/orders.eu g2>g1:/queue/orders.eu' },
  { name: 'exclusion beats static inclusion', opts: { staticallyIncludedDestinations: ['/queue/a'], excludedDestinations: ['>'] }, demand: 'g1: ; g2: /queue/a:1', want: '' },
  { name: 'unknown target demand keeps the previous subscriptions towards it', demand: 'g1: /queue/b:1; g2: ?', previous: 'g1>g2:/queue/a', want: 'g1>g2:/queue/a g2>g1:/queue/b' },
  { name: 'queue demand gone: subscription gone', demand: 'g1: ; g2: /queue/a:0', previous: 'g1>g2:/queue/a', want: '' },
  { name: 'topic demand gone, dynamicOnly=false: kept', demand: 'g1: ; g2: /topic/t:0', previous: 'g1>g2:/topic/t', want: 'g1>g2:/topic/t' },
  { name: 'topic demand gone, dynamicOnly=true: removed', opts: { dynamicOnly: true }, demand: 'g1: ; g2: /topic/t:0', previous: 'g1>g2:/topic/t', want: '' },
  { name: 'bridge durable found in the source is resumed (dynamicOnly=false)', demand: 'g1: durable:bridge:L:g2|/topic/t:0@7; g2: ', want: 'g1>g2:/topic/t' },
  { name: 'another link\'s durable is not ours', demand: 'g1: durable:bridge:M:g2|/topic/t:0; g2: ', want: '' },
  { name: 'ring of 3: queue demand in g3 pulls from g1 and g2', opts: { groups: ['g1', 'g2', 'g3'] }, demand: 'g1: /queue/a:0@5; g2: /queue/a:0@5; g3: /queue/a:1', want: 'g1>g3:/queue/a g2>g3:/queue/a' },
];

for (const row of SCENARIOS) {
  test(`demand: ${row.name}`, () => {
    const l = link(row.opts);
    const prev = (row.previous ?? '').split(/\s+/).filter(Boolean).map((k) => {
      const [dir, dest] = [k.slice(0, k.indexOf(':')), k.slice(k.indexOf(':') + 1)];
      const [s, t] = dir.split('>') as [string, string];
      return l.wanted(snap(`${s}: ; ${t}: ${dest}:1`)).subscriptions.find((x) => x.key === k)!;
    });
    const got = l.wanted(snap(row.demand), prev).subscriptions;
    assert.equal(keys(got), row.want);
  });
}

test('subscription shape: priority, selector, durable name, conduit', () => {
  const [q, t] = link({ conduitSubscriptions: false }).wanted(snap('g1: ; g2: /queue/a:3 /topic/t:4')).subscriptions;
  assert.equal(q!.priority, -1);
  assert.equal(q!.durableName, '');
  assert.equal(q!.consumers, 3, 'conduitSubscriptions=false: one share per remote consumer');
  assert.equal(q!.replay, true, 'g1 has no local consumer on /queue/a: its stranded messages may go anywhere');
  assert.equal(q!.selector, '');
  const [strict] = link().wanted(snap('g1: /queue/a:1; g2: /queue/a:1')).subscriptions;
  assert.equal(strict!.replay, false, 'g1 has its own consumer: visited/TTL apply');
  assert.match(strict!.selector, /hawser-visited/);
  const [noReplay] = link({ replayWhenNoConsumers: false }).wanted(snap('g1: ; g2: /queue/a:1')).subscriptions;
  assert.equal(noReplay!.replay, false);
  assert.equal(t!.replay, false, 'topics never replay');
  assert.equal(t!.durableName, 'g2|/topic/t');
  assert.equal(t!.consumers, 1, 'topics are always conduit (no duplicate copies)');
  const [q0] = link({ decreaseNetworkConsumerPriority: false }).wanted(snap('g1: ; g2: /queue/a:1')).subscriptions;
  assert.equal(q0!.priority, 0);
});

// replay: which subscriptions may carry stranded messages back / beyond the TTL
const REPLAY: Array<[string, string, string]> = [
  ['g1: /queue/a:0@5; g2: /queue/a:1', 'g1>g2:/queue/a', 'replay'],
  ['g1: /queue/a:2@5; g2: /queue/a:1', 'g1>g2:/queue/a', 'strict'],
  ['g1: ?; g2: /queue/a:1', 'g1>g2:/queue/a', 'strict'], // source demand unknown: be strict
  ['g1: /topic/t:0; g2: /topic/t:1', 'g1>g2:/topic/t', 'strict'],
];
for (const [demand, key, want] of REPLAY) {
  test(`replay: ${demand} -> ${key} ${want}`, () => {
    const s = link().wanted(snap(demand)).subscriptions.find((x) => x.key === key)!;
    assert.equal(s.replay ? 'replay' : 'strict', want);
  });
}

test('static includes never replay (no ping-pong without consumers)', () => {
  const subs = link({ staticallyIncludedDestinations: ['/queue/s'] }).wanted(snap('g1: /queue/s:0@3; g2: /queue/s:0@3')).subscriptions;
  assert.deepEqual(subs.map((x) => [x.key, x.replay]), [['g1>g2:/queue/s', false], ['g2>g1:/queue/s', false]]);
});

test('orphan bridge durables are reported for removal (dynamicOnly=true)', () => {
  const w = link({ dynamicOnly: true }).wanted(snap('g1: durable:bridge:L:g2|/topic/t:0@7; g2: /topic/u:1'));
  assert.deepEqual(w.orphans, [{ source: 'g1', target: 'g2', destination: '/topic/t', durableName: 'g2|/topic/t' }]);
  assert.equal(keys(w.subscriptions), 'g1>g2:/topic/u');
});

test('diff: add, remove, change', () => {
  const src = 'g1: /queue/a:1 /queue/b:1 /queue/c:1';
  const a = link({ duplex: false }).wanted(snap(`${src}; g2: /queue/a:1 /queue/b:1`)).subscriptions;
  const b = link({ duplex: false, networkTTL: 2 }).wanted(snap(`${src}; g2: /queue/b:1 /queue/c:1`)).subscriptions;
  const d = diffSubscriptions(a, b);
  assert.deepEqual(d.add.map((s) => s.key), ['g1>g2:/queue/b', 'g1>g2:/queue/c']);
  assert.deepEqual(d.remove.map((s) => s.key).sort(), ['g1>g2:/queue/a', 'g1>g2:/queue/b']);
});

test('directions: duplex every ordered pair; not duplex in listed order', () => {
  assert.deepEqual(directions({ groups: ['a', 'b', 'c'], duplex: true }).map((d) => d.join('>')), ['a>b', 'a>c', 'b>a', 'b>c', 'c>a', 'c>b']);
  assert.deepEqual(directions({ groups: ['a', 'b', 'c'], duplex: false }).map((d) => d.join('>')), ['a>b', 'a>c', 'b>c']);
});

test('bad link options are named errors', () => {
  for (const o of [{ groups: ['g1'] }, { groups: ['g1', 'g1'] }, { networkTTL: 0 }, { excludedDestinations: ['/queue/a.>.b'] }]) {
    assert.throws(() => link(o), (e: unknown) => e instanceof LinkConfigError && e.code === 'INVALID_LINK_CONFIG', JSON.stringify(o));
  }
});
