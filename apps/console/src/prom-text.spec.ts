import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prom } from '@hawser/observability';
import { has, parsePrometheus, sum, sumBy } from './prom-text';

test('reads what prom-client serves: counters with labels, gauges, histogram sums and counts', async () => {
  const registry = new prom.Registry();
  registry.setDefaultLabels({ service: 'store' });
  const c = new prom.Counter({ name: 'hawser_x_total', help: 'x', labelNames: ['destination'], registers: [registry] });
  const g = new prom.Gauge({ name: 'hawser_gateway_connections', help: 'g', labelNames: ['protocol'], registers: [registry] });
  const h = new prom.Histogram({ name: 'hawser_store_journal_commit_seconds', help: 'h', buckets: [0.001, 0.01], registers: [registry] });
  c.inc({ destination: '/queue/a "quoted"\\x' }, 3);
  c.inc({ destination: '/queue/b' }, 2);
  g.set({ protocol: 'stomp' }, 4);
  g.set({ protocol: 'ws' }, 1);
  h.observe(0.002);
  h.observe(0.004);
  const samples = parsePrometheus(await registry.metrics());
  assert.equal(sum(samples, 'hawser_x_total'), 5);
  assert.equal(sum(samples, 'hawser_x_total', { destination: '/queue/a "quoted"\\x' }), 3);
  assert.deepEqual(sumBy(samples, 'hawser_gateway_connections', 'protocol'), { stomp: 4, ws: 1 });
  assert.equal(sum(samples, 'hawser_store_journal_commit_seconds_count'), 2);
  assert.ok(Math.abs(sum(samples, 'hawser_store_journal_commit_seconds_sum') - 0.006) < 1e-9);
  assert.equal(sum(samples, 'hawser_store_journal_commit_seconds_bucket', { le: '+Inf' }), 2);
  assert.ok(has(samples, 'hawser_x_total'));
  assert.ok(!has(samples, 'hawser_nothing'));
});

test('skips comments, blank lines and lines it cannot read; keeps +Inf and timestamps', () => {
  const s = parsePrometheus('# HELP a x\n# TYPE a gauge\n\na 1\nb{l="v"} +Inf 1700000000000\nnot a sample line\nc NaNx\n');
  assert.deepEqual(s, [{ name: 'a', labels: {}, value: 1 }, { name: 'b', labels: { l: 'v' }, value: Infinity }]);
});
