// Loop prevention in a ring of three groups (g1 - g2 - g3 - g1, each link duplex): a topic
// message published in g1 is forwarded by the rules alone (decideForward), with every group
// subscribed everywhere. The network must go quiet, and with the targets' duplicate check
// (same message id) each group holds the message once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideForward } from './headers';
import { directions } from './demand';

function simulate(networkTTL: number, groups = ['g1', 'g2', 'g3']) {
  const dirs = directions({ groups, duplex: true });
  const stored = new Map<string, number>(groups.map((g) => [g, 0]));
  const sends: string[] = [];
  // queue of (group it arrived in, headers)
  const work: Array<{ at: string; headers: Record<string, string> }> = [{ at: 'g1', headers: {} }];
  stored.set('g1', 1);
  const seen = new Set<string>(['g1']); // the dedup window of each group (one message id)
  let steps = 0;
  while (work.length) {
    if (++steps > 1000) throw new Error('loop: the network never went quiet');
    const { at, headers } = work.shift()!;
    for (const [s, t] of dirs) {
      if (s !== at) continue;
      const d = decideForward(headers, s, t, networkTTL);
      if (!d.forward) continue;
      sends.push(`${s}>${t}`);
      if (seen.has(t)) continue; // duplicate id: the target drops it
      seen.add(t);
      stored.set(t, stored.get(t)! + 1);
      work.push({ at: t, headers: d.headers });
    }
  }
  return { stored, sends };
}

// networkTTL -> forwards that happen (sends, including those dropped as duplicates)
const TABLE: Array<[number, string]> = [
  [1, 'g1>g2 g1>g3'],
  [2, 'g1>g2 g1>g3 g2>g3 g3>g2'],
  [3, 'g1>g2 g1>g3 g2>g3 g3>g2'],
  [10, 'g1>g2 g1>g3 g2>g3 g3>g2'],
];

for (const [ttl, want] of TABLE) {
  test(`ring of 3, networkTTL ${ttl}: quiet, each group once`, () => {
    const { stored, sends } = simulate(ttl);
    assert.equal(sends.join(' '), want);
    assert.deepEqual([...stored.values()], [1, 1, 1]);
  });
}

test('line g1 - g2 - g3 needs networkTTL 2 to reach g3 from g1', () => {
  // only adjacent pairs are linked: model as two 2-group links
  const hop = (h: Record<string, string>, s: string, t: string, ttl: number) => decideForward(h, s, t, ttl);
  const a = hop({}, 'g1', 'g2', 1);
  assert.ok(a.forward);
  assert.equal(hop(a.forward ? a.headers : {}, 'g2', 'g3', 1).forward, false);
  const b = hop({}, 'g1', 'g2', 2);
  const c = hop(b.forward ? b.headers : {}, 'g2', 'g3', 2);
  assert.ok(c.forward);
  assert.equal(hop(c.forward ? c.headers : {}, 'g3', 'g1', 9).forward, false, 'never back into g1');
  assert.equal(hop(c.forward ? c.headers : {}, 'g3', 'g2', 9).forward, false, 'never back into g2');
});
