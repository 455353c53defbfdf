import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prom, TallyCounter, TallyHistogram } from './index';

/** The exposition's lines in order (label sets may come in another order). */
const lines = async (r: prom.Registry): Promise<string[]> => (await r.metrics()).split('\n').sort();

function registry(): prom.Registry {
  const r = new prom.Registry();
  r.setDefaultLabels({ service: 'test' });
  return r;
}

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

test('TallyCounter: what /metrics shows is what prom-client counts, per label value, across scrapes', async () => {
  const tallied = registry();
  const plain = registry();
  const t = new TallyCounter({ name: 'hawser_test_frames_total', help: 'frames', labelName: 'command', registers: [tallied] });
  const c = new prom.Counter({ name: 'hawser_test_frames_total', help: 'frames', labelNames: ['command'], registers: [plain] });
  const held = t.tally('MESSAGE');
  const feed = (n: number) => {
    for (let i = 0; i < n; i++) {
      const command = ['SEND', 'ACK', 'RECEIPT'][i % 3]!;
      t.inc(command);
      c.inc({ command });
      held.n += 2;
      c.inc({ command: 'MESSAGE' }, 2);
    }
  };
  assert.deepEqual(await lines(tallied), await lines(plain), 'nothing counted: the same (empty) exposition');
  feed(10);
  assert.deepEqual(await lines(tallied), await lines(plain));
  feed(7); // after a scrape the tallies go on from where the counter is
  assert.deepEqual(await lines(tallied), await lines(plain));
  assert.match(await tallied.metrics(), /hawser_test_frames_total\{command="MESSAGE",service="test"\} 34/);
});

/** Equal expositions but for the sums' last bits (the tally adds in another order): those to 1e-9. */
async function sameHistogram(a: prom.Registry, b: prom.Registry): Promise<void> {
  const [x, y] = [await lines(a), await lines(b)];
  const sums = (l: string[]) => l.filter((s) => s.includes('_sum{'));
  assert.deepEqual(x.filter((s) => !s.includes('_sum{')), y.filter((s) => !s.includes('_sum{')));
  assert.equal(sums(x).length, sums(y).length);
  sums(x).forEach((s, i) => {
    const [k, v] = s.split(' ');
    const [k2, v2] = sums(y)[i]!.split(' ');
    assert.equal(k, k2);
    assert.ok(Math.abs(Number(v) - Number(v2)) < 1e-9, `${k}: ${v} vs ${v2}`);
  });
}

test('TallyHistogram: the same buckets, sum and count as a prom-client histogram fed the same values, across scrapes', async () => {
  const tallied = registry();
  const plain = registry();
  const t = new TallyHistogram({ name: 'hawser_test_seconds', help: 'latency', labelName: 'protocol', buckets: BUCKETS, registers: [tallied] });
  const h = new prom.Histogram({ name: 'hawser_test_seconds', help: 'latency', labelNames: ['protocol'], buckets: BUCKETS, registers: [plain] });
  // On the bounds, between them, below the first and above the last (+Inf only).
  const values = [0, 0.0005, 0.0007, 0.001, 0.003, 0.01, 0.2, 1, 2.5, 9.99, 10, 12, 100];
  const feed = (protocol: string, scale: number) => {
    for (const v of values) {
      t.observe(protocol, v * scale);
      h.observe({ protocol }, v * scale);
    }
  };
  feed('stomp', 1);
  await sameHistogram(tallied, plain);
  feed('stomp', 0.5);
  feed('ws', 1);
  await sameHistogram(tallied, plain);
  assert.match(await tallied.metrics(), /hawser_test_seconds_count\{service="test",protocol="stomp"\} 26/);
  assert.match(await tallied.metrics(), /hawser_test_seconds_bucket\{le="\+Inf",service="test",protocol="ws"\} 13/);
});
