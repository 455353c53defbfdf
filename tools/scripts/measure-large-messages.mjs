#!/usr/bin/env node
// Memory and replication cost of large messages (docs/benchmarks.md, "Large messages"): a
// replicated group of 3 stores (quorum_mem) and one separate gateway, started by the
// integration harness (build first: npx tsc -b tsconfig.json). For each phase, one producer
// sends N messages of SIZE bytes, persistent, one in flight (waits for each receipt), to a
// queue; then one consumer takes them (prefetch 1, client-individual acks). Prints, per phase,
// the time, the peak RSS (VmHWM) and RSS after the phase of the gateway and of each store, and
// the growth of each store's data directory. Bounded: a few phases, then it stops everything.
//
//   node tools/scripts/measure-large-messages.mjs [N16=20] [N64=5]
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'package.json'));
const { Cluster } = require(join(root, 'tests/integration/dist/cluster.js'));
const { connect } = require(join(root, 'libs/client/dist/index.js'));

const n16 = Number(process.argv[2] ?? 20);
const n64 = Number(process.argv[3] ?? 5);
const MiB = 1024 * 1024;

function mem(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), hwm: Math.round(kb('VmHWM') / 1024) };
}

function du(dir) {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    n += st.isDirectory() ? du(p) : st.size;
  }
  return n;
}

// ZooKeeper sessions and master timeouts as in production (4 s, 2 s), not the suite's fast ones.
const c = await Cluster.start({ name: 'large-msgs', tickTime: 1000, sessionTimeoutMs: 4000, masterTimeoutMs: 2000 });
const rows = [];
try {
  const procs = () => [['gateway', c.gateway.pid], ...c.stores.map((s) => [c.idOf(s), s.pid])];
  const { store: master } = await c.waitForMaster();
  const snapshot = (phase, extra = {}) => {
    const row = { phase, ...extra };
    for (const [name, pid] of procs()) row[name] = mem(pid);
    for (const s of c.stores) row[`disk_${c.idOf(s)}_MiB`] = Math.round(du(s.dataDir) / MiB);
    rows.push(row);
    console.log(JSON.stringify(row));
  };
  snapshot('idle', { master: c.idOf(master) });
  for (const [size, n] of [[16 * MiB, n16], [64 * MiB, n64]]) {
    const q = `/queue/large.${size / MiB}MiB.${Date.now()}`;
    const body = Buffer.alloc(size, 0x61);
    const producer = await connect(c.gateway.stompUri, { receiptTimeoutMs: 300_000, maxFrameSize: 80 * MiB });
    const t0 = Date.now();
    for (let i = 0; i < n; i++) await producer.send(q, body, { persistent: true });
    const sendMs = Date.now() - t0;
    snapshot(`after sending ${n} x ${size / MiB} MiB`, { sendMs, sendMiBps: Math.round((n * size) / MiB / (sendMs / 1000)) });
    const consumer = await connect(c.gateway.stompUri, { receiptTimeoutMs: 300_000, maxFrameSize: 80 * MiB });
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 1 });
    const t1 = Date.now();
    for (let i = 0; i < n; i++) {
      const m = await sub.next(300_000);
      if (m.body.length !== size) throw new Error(`message ${i}: ${m.body.length} bytes, expected ${size}`);
      await m.ack();
    }
    const recvMs = Date.now() - t1;
    snapshot(`after consuming them`, { recvMs, recvMiBps: Math.round((n * size) / MiB / (recvMs / 1000)) });
    await producer.disconnect();
    await consumer.disconnect();
  }
} finally {
  await c.close();
}
