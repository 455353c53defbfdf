// Scenario 5: GET /metrics on the gateway's and the store's HTTP ports serves the
// documented metric names (apps/gateway/README.md, apps/store/README.md), and the
// health endpoints answer.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, httpGet, type Gateway, type Store } from './harness';
import { Clients, unique } from './support';

// The names the READMEs document. Counters appear once they have a label set, so the test
// makes some traffic first.
const GATEWAY_METRICS = [
  'hawser_gateway_connections',
  'hawser_gateway_connections_total',
  'hawser_gateway_frames_in_total',
  'hawser_gateway_frames_out_total',
  'hawser_gateway_bytes_in_total',
  'hawser_gateway_bytes_out_total',
  'hawser_gateway_errors_total',
];
const STORE_METRICS = [
  'hawser_store_sessions',
  'hawser_store_requests_total',
  'hawser_store_messages_enqueued_total',
  'hawser_store_messages_dequeued_total',
  'hawser_store_messages_acked_total',
  'hawser_store_dedup_hits_total',
  'hawser_store_journal_commit_seconds',
  'hawser_store_journal_batch_entries',
  'hawser_store_journal_position',
  'hawser_store_journal_committed_position',
];

describe('metrics', { timeout: 60_000 }, () => {
  const h = new Harness('metrics');
  let store: Store;
  let gateway: Gateway;
  const clients = new Clients(() => gateway.stompUri);
  before(async () => {
    ({ store, gateway } = await h.startBroker());
    const c = await clients.connect();
    const q = unique('/queue/metrics');
    const s = await c.subscribe(q);
    await c.send(q, 'x', { persistent: true });
    await s.next(5000);
    // One ERROR frame so hawser_gateway_errors_total has a sample.
    const bad = await clients.connect();
    await bad.send('', 'no destination').catch(() => undefined);
  });
  afterEach((t) => h.reportIfFailed(t));
  after(async () => {
    await clients.closeAll();
    await h.close();
  });

  it('gateway /metrics has the hawser_gateway_* names; /healthz and /readyz answer 200', { timeout: 15_000 }, async () => {
    const m = await httpGet(gateway.httpPort, '/metrics');
    assert.equal(m.status, 200);
    for (const name of GATEWAY_METRICS) assert.match(m.body, new RegExp(`^${name}(\\{|\\s)`, 'm'), `gateway /metrics lacks ${name}`);
    assert.equal((await httpGet(gateway.httpPort, '/healthz')).status, 200);
    assert.equal((await httpGet(gateway.httpPort, '/readyz')).status, 200);
  });

  it('store /metrics has the hawser_store_* names; /healthz and /readyz answer 200', { timeout: 15_000 }, async () => {
    const m = await httpGet(store.httpPort, '/metrics');
    assert.equal(m.status, 200);
    for (const name of STORE_METRICS) assert.match(m.body, new RegExp(`^${name}`, 'm'), `store /metrics lacks ${name}`);
    assert.equal((await httpGet(store.httpPort, '/healthz')).status, 200);
    assert.equal((await httpGet(store.httpPort, '/readyz')).status, 200);
  });
});
