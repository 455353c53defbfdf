import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideForward, forwardSelector, HOPS_HEADER, ORIGINAL_ID_HEADER, VISITED_HEADER } from './headers';

// headers, source, target, ttl -> forwarded visited/hops or the refusal reason
const TABLE: Array<[Record<string, string>, string, string, number, string]> = [
  [{}, 'g1', 'g2', 1, 'g1|1'],
  [{ a: 'b' }, 'g1', 'g2', 1, 'g1|1'],
  [{ [VISITED_HEADER]: 'g1', [HOPS_HEADER]: '1' }, 'g2', 'g1', 5, 'visited'],
  [{ [VISITED_HEADER]: 'g1', [HOPS_HEADER]: '1' }, 'g2', 'g3', 1, 'ttl'],
  [{ [VISITED_HEADER]: 'g1', [HOPS_HEADER]: '1' }, 'g2', 'g3', 2, 'g1,g2|2'],
  [{ [VISITED_HEADER]: 'g1,g2', [HOPS_HEADER]: '2' }, 'g3', 'g1', 9, 'visited'],
  [{ [VISITED_HEADER]: 'g10' }, 'g2', 'g1', 9, 'g10,g2|1'], // g1 is not g10
  [{}, 'g1', 'g1', 1, 'same-group'],
];

for (const [headers, source, target, ttl, want] of TABLE) {
  test(`decideForward ${JSON.stringify(headers)} ${source}->${target} ttl ${ttl}: ${want}`, () => {
    const d = decideForward(headers, source, target, ttl);
    if (d.forward) {
      assert.equal(`${d.headers[VISITED_HEADER]}|${d.headers[HOPS_HEADER]}`, want);
      for (const [k, v] of Object.entries(headers)) if (k !== VISITED_HEADER && k !== HOPS_HEADER) assert.equal(d.headers[k], v);
    } else {
      assert.equal(d.reason, want);
    }
  });
}

test('replay (stranded queue message): back into a visited group and beyond the TTL', () => {
  const d = decideForward({ [VISITED_HEADER]: 'g1', [HOPS_HEADER]: '1' }, 'g2', 'g1', 1, true, 'm1');
  assert.ok(d.forward);
  assert.equal(d.forward && d.headers[VISITED_HEADER], 'g1,g2');
  assert.equal(d.forward && d.headers[HOPS_HEADER], '2');
  // g1's duplicate check knows m1: the re-entering copy gets a derived, deterministic id
  assert.equal(d.forward && d.id, 'm1~2');
  assert.equal(d.forward && d.headers[ORIGINAL_ID_HEADER], 'm1');
  const again = decideForward(d.forward ? d.headers : {}, 'g1', 'g2', 1, true, 'm1~2');
  assert.equal(again.forward && again.id, 'm1~3', 'and back again: still a new id, from the original');
  const fresh = decideForward({ [VISITED_HEADER]: 'g1', [HOPS_HEADER]: '1' }, 'g2', 'g3', 1, true, 'm1');
  assert.equal(fresh.forward && fresh.id, 'm1', 'a group it never was in: the same id');
  assert.equal(decideForward({}, 'g1', 'g1', 1, true).forward, false);
});

test('forwardSelector names the target and the TTL', () => {
  const s = forwardSelector('g_2', 3);
  assert.match(s, /"hawser-visited" IS NULL/);
  assert.match(s, /'g!_2,%' ESCAPE '!'/);
  assert.match(s, /"hawser-hops" < 3/);
});

// The selector the bridge subscribes with must let through exactly what decideForward allows:
// a queue message the bridge takes but may not forward would be stuck with it.
test('forwardSelector agrees with decideForward (via @hawser/selector)', async () => {
  const { compileSelector } = await import('@hawser/selector');
  const groups = ['g1', 'g2', 'g3', 'g10', 'g_1'];
  const visitedValues = [undefined, '', 'g1', 'g2', 'g1,g2', 'g10', 'g2,g1', 'g3,g10,g2', 'gx1', 'g_1'];
  const hopsValues = [undefined, '0', '1', '2', '7'];
  let checked = 0;
  for (const target of groups) {
    for (const ttl of [1, 2, 3]) {
      const sel = compileSelector(forwardSelector(target, ttl));
      for (const v of visitedValues) {
        for (const h of hopsValues) {
          const headers: Record<string, string> = {};
          if (v !== undefined) headers[VISITED_HEADER] = v;
          if (h !== undefined) headers[HOPS_HEADER] = h;
          const want = decideForward(headers, 'src', target, ttl).forward;
          const got = sel.matches({ headers, id: 'm', priority: 4, timestamp: 0, expires: 0, persistent: true });
          assert.equal(got, want, `target ${target} ttl ${ttl} visited ${v} hops ${h}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 100);
});
