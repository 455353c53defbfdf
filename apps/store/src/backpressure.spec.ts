// The store honours write back-pressure on its session streams: a gateway that stops reading
// (its process stalls, or its side of the HTTP/2 window is full) gets no further deliveries
// while the stream's buffer is full; the queue serves its other consumers meanwhile, and
// everything comes once the gateway reads again. Real store, real gRPC; the stalled gateway is
// a raw client stream that stops reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry, type prom } from '@hawser/observability';
import { brokerService, CHANNEL_OPTIONS, grpc, type MuxEvents, type MuxRequests, type SessionEvents, type SessionRequests } from '@hawser/proto';
import { schema, validate } from './config';
import { Store } from './store';
import { checkFor, TestSession } from './testing';

const BODY = 'x'.repeat(64 * 1024);
const COUNT = 240; // 15 MiB of bodies: far past the stream buffer of 1 MiB (and HTTP/2's windows)

async function withStore(body: (store: Store, address: string, registry: prom.Registry) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-backpressure-'));
  const registry = createRegistry('store');
  const argv = ['--node.id', 's1', '--group', 'g1', '--node.dataDir', dir, '--grpc.port', '0', '--grpc.streamBufferBytes', String(1024 * 1024)];
  const store = new Store({ config: validate(loadConfig(schema, { argv, env: {} }).config), log: createLogger({ service: 'store', level: 'silent' }), registry });
  await store.start();
  try {
    await body(store, `127.0.0.1:${store.grpcPort}`, registry);
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fullCount(registry: prom.Registry): Promise<number> {
  const m = /hawser_store_session_streams_full_total(?:\{[^}]*\})? (\d+)/.exec(await registry.metrics());
  return m ? Number(m[1]) : 0;
}

function destinationOf(store: Store, queue: string): { inflight: number; consumers: number } | undefined {
  const core = (store as unknown as { core: { destinations(p: string): Array<{ name: string; inflight: number; consumers: number }> } }).core;
  return core.destinations(queue).find((d) => d.name === queue);
}
/** Deliveries the store's core has made to consumers of `queue` and not had acked. */
const inflightOf = (store: Store, queue: string): number => destinationOf(store, queue)?.inflight ?? 0;

const subscribe = (requestId: number) => ({
  kind: 'subscribe', requestId,
  subscribe: { subscriptionId: 'slow', destination: '/queue/bp', ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: 1000, selector: '', durableName: '', noLocal: false },
});
const open = { kind: 'open', requestId: 0, open: { connectionId: 'stalled', clientId: '', login: '', gateway: 'stalled', network: false } };

for (const kind of ['Session', 'Sessions'] as const) {
  test(`Broker.${kind}: a gateway that stops reading gets no more deliveries; the other consumer gets the rest; all come once it reads`, async () => {
    await withStore(async (store, address, registry) => {
      // HTTP/2's default window (64 KiB) instead of the gateways' 16 MiB: a few messages fill it.
      const client = new (brokerService())(address, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS, 'grpc-node.flow_control_window': 65_535 });
      let received = 0;
      const count = (events: Array<{ kind?: string }>) => { for (const e of events) if (e.kind === 'delivery') received++; };
      let call: grpc.ClientDuplexStream<SessionRequests | MuxRequests, SessionEvents | MuxEvents>;
      if (kind === 'Session') {
        call = (client as unknown as { Session(): typeof call }).Session();
        call.on('data', (b: SessionEvents) => count(b.items));
        call.write({ items: [open, subscribe(1)] } as unknown as SessionRequests);
      } else {
        call = (client as unknown as { Sessions(): typeof call }).Sessions();
        call.on('data', (b: MuxEvents) => count(b.items.flatMap((i) => (i.event ? [i.event] : []))));
        call.write({ items: [{ session: 7, request: open }, { session: 7, request: subscribe(1) }] } as unknown as MuxRequests);
      }
      call.on('error', () => { /* ended by the store at stop */ });
      await checkFor('subscribed', () => destinationOf(store, '/queue/bp')?.consumers === 1);
      call.pause(); // the gateway stops reading: the HTTP/2 window and the stream's buffer fill

      const other = new TestSession(address);
      await other.open();
      const p = new TestSession(address);
      await p.open();
      // In rounds of 10: one drive dispatches what one commit made durable (the pause comes
      // after the write that filled the buffer, so a drive's deliveries are the granularity).
      for (let r = 0; r < COUNT / 10; r++) {
        await p.receipted(Array.from({ length: 10 }, (_, i) => p.send('/queue/bp', BODY, { id: `ID:bp-${r * 10 + i}` })), 30_000);
      }
      await checkFor('the stream reported full', async () => (await fullCount(registry)) >= 1, 15_000);
      const heldByStalled = inflightOf(store, '/queue/bp');
      assert.ok(heldByStalled < COUNT / 2, `the stalled gateway holds ${heldByStalled} of ${COUNT} (dispatch stopped at its full buffer)`);

      // The queue serves the consumer that reads.
      other.subscribe('fast', '/queue/bp', { prefetch: 1000 });
      await checkFor('the other consumer gets the rest', () => other.deliveries().length === COUNT - heldByStalled, 15_000);
      assert.equal(inflightOf(store, '/queue/bp'), COUNT, 'every message is out to one consumer or the other');

      // The stalled gateway reads again: what the store had sent reaches it.
      call.resume();
      await checkFor('the stalled gateway got what it held', () => received === heldByStalled, 15_000);
      call.end();
      client.close();
      other.close();
      p.close();
    });
  });
}
