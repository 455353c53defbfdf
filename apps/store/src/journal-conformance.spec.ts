// The Journal contract (journals.ts), run on both implementations: LocalJournal (a standalone
// store) and ReplicatedJournal (the master of a group of three, in-process, the test playing
// the coordinator). Real RocksDB and gRPC; sessions through Broker.Session. Each case says
// what a journal promises the broker core and its clients, whatever carries the entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry } from '@hawser/observability';
import { adminService, type DestinationsReply, type StatusReply } from '@hawser/proto';
import { schema, validate } from './config';
import { decodeEntry } from './codec';
import type { RocksJournal } from './journal';
import type { Journal } from './journals';
import { LocalJournal } from './local-journal';
import { ReplicatedJournal } from './replicated';
import { Store } from './store';
import { checkFor, TestSession, unary } from './testing';
import { bootNode, cleanupNodes, electServing, stopNode, testNodes, type TestNode } from './testing-group';

/** One deployment of a journal implementation, as the cases see it. */
interface Subject {
  /** The store serving sessions now. */
  serving(): Store;
  /** Every running store holding the log (one for a standalone store). */
  stores(): Store[];
  /**
   * Loses the serving node as a crash would as far as the journal's promise goes: local, the
   * store stops and starts again on its directory; replicated, the master stops (it sends its
   * slaves nothing more) and another member is elected from what the quorum holds.
   */
  loseServingNode(): Promise<void>;
  /** Nodes that must hold an entry before the core may count it durable. */
  quorum: number;
  close(): Promise<void>;
}

interface Implementation {
  name: string;
  type: typeof LocalJournal | typeof ReplicatedJournal;
  make(extra: string[]): Promise<Subject>;
}

const LOG_LEVEL = process.env.HAWSER_TEST_LOG ?? 'silent';

async function standalone(extra: string[]): Promise<Subject> {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-conformance-'));
  const start = async () => {
    const argv = ['--node.id', 's1', '--group', 'g1', '--node.dataDir', dir, '--grpc.port', '0', ...extra];
    const config = validate(loadConfig(schema, { argv, env: {} }).config);
    const s = new Store({ config, log: createLogger({ service: 'store', level: LOG_LEVEL }), registry: createRegistry('store') });
    await s.start();
    return s;
  };
  let store: Store | null = await start();
  return {
    serving: () => store!,
    stores: () => (store ? [store] : []),
    async loseServingNode() { await store!.stop(); store = null; store = await start(); },
    quorum: 1,
    async close() { await store?.stop(); store = null; rmSync(dir, { recursive: true, force: true }); },
  };
}

async function group(extra: string[]): Promise<Subject> {
  const all = testNodes(extra);
  let epoch = 1;
  let master: TestNode = all[0]!;
  for (const n of all) await bootNode(n);
  await electServing(epoch, master, all);
  return {
    serving: () => master.store!,
    stores: () => all.flatMap((n) => (n.store ? [n.store] : [])),
    async loseServingNode() {
      const gone = master;
      await stopNode(gone);
      master = all.find((n) => n.store)!;
      await electServing(++epoch, master, all);
      await bootNode(gone); // back as a slave of the new master: the group has three again
      await electServing(++epoch, master, all);
    },
    quorum: 2,
    close: () => cleanupNodes(all),
  };
}

const IMPLEMENTATIONS: Implementation[] = [
  { name: 'LocalJournal (standalone)', type: LocalJournal, make: standalone },
  { name: 'ReplicatedJournal (master of a group of 3)', type: ReplicatedJournal, make: group },
];

const journalOf = (s: Store): Journal => (s as unknown as { log: Journal }).log;
const rocksOf = (s: Store): RocksJournal => (s as unknown as { journal: RocksJournal }).journal;
const addressOf = (s: Store): string => `127.0.0.1:${s.grpcPort}`;
const statusOf = (s: Store): Promise<StatusReply> => unary(adminService(), addressOf(s), 'Status', {});
async function depthOf(s: Store, destination: string): Promise<number> {
  const r = await unary<object, DestinationsReply>(adminService(), addressOf(s), 'Destinations', { prefix: destination });
  return r.destinations.find((d) => d.name === destination)?.depth ?? 0;
}

/** Runs `body` against a fresh deployment of `impl`, checking first that it is the implementation named. */
async function against(impl: Implementation, extra: string[], body: (s: Subject) => Promise<void>): Promise<void> {
  const subject = await impl.make(extra);
  try {
    assert.ok(journalOf(subject.serving()) instanceof impl.type, `the serving store's journal is a ${impl.type.name}`);
    await body(subject);
  } finally {
    await subject.close();
  }
}

for (const impl of IMPLEMENTATIONS) {
  test(`${impl.name}: a receipted SEND survives losing the serving node, in order, paged back from RocksDB`, async () => {
    await against(impl, ['--broker.pageSize', '16'], async (s) => {
      const p = new TestSession(addressOf(s.serving()));
      await p.open();
      const bodies = Array.from({ length: 60 }, (_, i) => `m${i}`);
      await p.receipted(bodies.map((b, i) => p.send('/queue/c', b, { id: `ID:c-${i}` })));
      p.close();

      await s.loseServingNode();
      const c = new TestSession(addressOf(s.serving()));
      await c.open();
      c.subscribe('s', '/queue/c', { prefetch: 100 });
      await checkFor('60 deliveries', () => c.deliveries().length === 60);
      assert.deepEqual(c.deliveries().map((d) => d.message.body.toString()), bodies, 'every receipted message, in send order');
      c.close();
    });
  });

  test(`${impl.name}: sync quorum_disk: the core hears durable(p) only once a quorum of nodes has written entry p`, async () => {
    // (quorum_mem, the default, counts an entry held in a slave's memory: ActiveMQ's remote_mem.)
    await against(impl, ['--sync', 'quorum_disk'], async (s) => {
      // Every node's RocksDB batches are watched: the highest journal entry each has written.
      const written = new Map<Store, number>();
      for (const store of s.stores()) {
        const db = rocksOf(store).db as unknown as { batch: (ops: Array<{ type: string; key: unknown }>, sync: boolean) => Promise<void> };
        const batch = db.batch.bind(db);
        written.set(store, 0);
        db.batch = async (ops, sync) => {
          await batch(ops, sync);
          for (const o of ops) {
            if (o.type === 'put' && typeof o.key === 'string' && o.key.startsWith('j\u0000')) {
              written.set(store, Math.max(written.get(store)!, Number.parseInt(o.key.slice(2), 16)));
            }
          }
        };
      }
      const core = (s.serving() as unknown as { core: { durable(p: number, now: number): void } }).core;
      const durable = core.durable.bind(core);
      const early: string[] = [];
      let calls = 0;
      core.durable = (position, now) => {
        calls++;
        const holding = [...written.values()].filter((w) => w >= position).length;
        if (holding < s.quorum) early.push(`durable(${position}) with ${holding} of ${s.quorum} nodes holding it`);
        durable(position, now);
      };
      const p = new TestSession(addressOf(s.serving()));
      await p.open();
      for (let round = 0; round < 5; round++) {
        await p.receipted(Array.from({ length: 20 }, (_, i) => p.send('/queue/q', `r${round}-${i}`)));
      }
      p.close();
      assert.ok(calls > 0, 'the core was told of durable entries');
      assert.deepEqual(early, [], 'no entry counted durable before a quorum wrote it');
    });
  });

  test(`${impl.name}: acks without a receipt ride with the next write and are durable when it is`, async () => {
    // A long hold: the acks cannot become durable on their own timer before the SEND below.
    await against(impl, ['--journal.ackHoldMs', '1000'], async (s) => {
      const p = new TestSession(addressOf(s.serving()));
      await p.open();
      await p.receipted(Array.from({ length: 20 }, (_, i) => p.send('/queue/a', `a${i}`)));
      p.subscribe('s', '/queue/a', { prefetch: 100 });
      await checkFor('20 deliveries', () => p.deliveries().length === 20);
      for (const d of p.deliveries()) p.ack(d.deliveryTag); // no receipt asked
      const next = p.send('/queue/other', 'next');
      await p.receipted([next]);
      // The acks were made before the SEND: its receipt means the core counts them durable too.
      const core = (s.serving() as unknown as { core: { committed: number; position: number } }).core;
      assert.equal(core.committed, core.position, 'nothing made before the receipt waits');
      p.close();

      await s.loseServingNode();
      assert.equal(await depthOf(s.serving(), '/queue/a'), 0, 'the acked messages stay acked');
      assert.equal(await depthOf(s.serving(), '/queue/other'), 1);
    });
  });

  test(`${impl.name}: every node holding the log has the entries in submit order, without a gap`, async () => {
    await against(impl, [], async (s) => {
      const p = new TestSession(addressOf(s.serving()));
      await p.open();
      const ids: number[] = [];
      for (let i = 0; i < 40; i++) ids.push(p.send(i % 2 ? '/queue/x' : '/queue/y', `e${i}`));
      await p.receipted(ids);
      p.subscribe('s', '/queue/x', { prefetch: 100 });
      await checkFor('20 deliveries', () => p.deliveries().length === 20);
      await p.receipted(p.deliveries().map((d) => p.ack(d.deliveryTag)));
      p.close();
      const last = (await statusOf(s.serving())).lastPosition;
      for (const store of s.stores()) {
        await checkFor('the node holds the whole log', async () => (await statusOf(store)).lastPosition === last);
        const entries = (await rocksOf(store).entries(1, 100_000)).map(decodeEntry);
        const positions = entries.map((e) => e.position);
        assert.equal(positions[positions.length - 1], last, 'the log ends where the serving store says');
        positions.forEach((p, i) => { if (i) assert.equal(p, positions[i - 1]! + 1, `no gap after ${positions[i - 1]}`); });
        entries.forEach((e, i) => { if (i) assert.ok(e.epoch >= entries[i - 1]!.epoch, 'epochs never go back'); });
      }
    });
  });

  test(`${impl.name}: a failed write loses nothing receipted; the journal stops serving and the store says why`, async () => {
    // A long journal.gatherMs (replicated, quorum_mem): this node tries its own write seconds
    // after the SEND, so a receipt, if one comes, comes from the slaves' memory first. A node
    // that is the whole quorum (standalone) receipts nothing it has not written.
    await against(impl, ['--journal.gatherMs', '3000'], async (s) => {
      const store = s.serving();
      const p = new TestSession(addressOf(store));
      await p.open();
      await p.receipted([p.send('/queue/f', 'before')]);
      const db = rocksOf(store).db as unknown as { batch: (...a: unknown[]) => Promise<void> };
      db.batch = () => Promise.reject(new Error('EIO: injected write failure'));
      const after = p.send('/queue/f', 'after');
      const err = await checkFor('an error on the session', () => p.events.find((e) => e.kind === 'error'), 15_000);
      assert.ok(err?.kind === 'error' && err.error.fatal, 'the session ends with a fatal error');
      const receipted = p.receipts().has(after);
      if (s.quorum === 1) assert.ok(!receipted, 'no receipt for the failed write');
      await store.failure; // resolves once the store gave up (replicated: left the group)
      assert.equal(journalOf(store).serving, false);
      assert.equal(store.healthy, false);
      p.close();
      // What the receipts promised holds without the failed node.
      await s.loseServingNode();
      assert.equal(await depthOf(s.serving(), '/queue/f'), receipted ? 2 : 1, `'before'${receipted ? " and the receipted 'after'" : ''} survive the failed node`);
    });
  });
}
