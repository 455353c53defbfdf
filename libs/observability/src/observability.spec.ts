import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRegistry, startHttpEndpoint, prom } from './index';

test('serves /metrics, /healthz and /readyz on a free port', async () => {
  const registry = createRegistry('test');
  const c = new prom.Counter({ name: 'hawser_test_total', help: 'a test counter', registers: [registry] });
  c.inc(3);
  let ready = false;
  const ep = await startHttpEndpoint({ host: '127.0.0.1', port: 0, registry, ready: () => ready });
  try {
    const base = `http://127.0.0.1:${ep.port}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /hawser_test_total\{service="test"\} 3/);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    await ep.close();
  }
});

test('/healthz answers 503 once the service says it is unhealthy (a failed disk)', async () => {
  let healthy = true;
  const ep = await startHttpEndpoint({ host: '127.0.0.1', port: 0, registry: createRegistry('test'), healthy: () => healthy });
  try {
    const base = `http://127.0.0.1:${ep.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    healthy = false;
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'unhealthy' });
  } finally {
    await ep.close();
  }
});
