#!/usr/bin/env node
// Forwarding benchmark: how many messages per second the bridge (apps/bridge) moves from one
// group to another, and how long a forward takes.
//
// Two groups (g1, g2) — standalone stores (default: one store per group, the bridge given
// their addresses with --stores and no ZooKeeper lock) or replicated groups (--mode
// replicated: ZooKeeper, 3 replicated stores per group, 2 coordinators, the bridge following
// the topology) — a gateway per group and one bridge. A consumer on g2's gateway makes the
// demand; then N persistent messages of --size bytes are sent with receipts (window --window)
// through g1's gateway. The consumer on g2 only ever sees what the bridge forwarded.
//
// Reported: forwarded msg/s (first SEND -> last message consumed in g2), the producer's own
// receipted msg/s into g1, end-to-end latency (SEND on g1 -> MESSAGE on g2, same clock, from
// a header) and the bridge's own forward latency histogram (hawser_bridge_forward_seconds:
// delivery from g1 -> g2's receipt) read from its /metrics.
//
//   node tools/bench/dist/forwarding.js [--mode standalone|replicated] [--messages 20000]
//        [--size 1024] [--window 64] [--prefetch 100] [--latencyMessages 200] [--json]
import { cpus, totalmem } from 'node:os';
import { connect } from '@hawser/client';
import { Cluster, Bridge, checkFor } from '@hawser/integration/dist/cluster';
import { Harness, httpGet, type Gateway } from '@hawser/integration/dist/harness';
import { summarize, percentile, type Summary } from './stats';
import { eachOption, numberOption, usageExit, UsageError } from './args';

interface Options { mode: 'standalone' | 'replicated'; messages: number; size: number; window: number; prefetch: number; latencyMessages: number; json: boolean }

const USAGE = `usage: hawser-bench-forwarding [--mode standalone|replicated] [--messages N=20000] [--size BYTES=1024]
       [--window N=64] [--prefetch N=100] [--latencyMessages N=200] [--json]`;

export function parseArgs(argv: string[]): Options {
  const o: Options = { mode: 'standalone', messages: 20_000, size: 1024, window: 64, prefetch: 100, latencyMessages: 200, json: false };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (name === 'mode') {
      if (v !== 'standalone' && v !== 'replicated') throw new UsageError(`--mode: standalone or replicated, got '${v}'`);
      o.mode = v;
    } else if (['messages', 'size', 'window', 'prefetch', 'latencyMessages'].includes(name)) {
      (o as unknown as Record<string, number>)[name] = numberOption(a, v, { integer: true });
    } else {
      throw new UsageError(`unknown option ${a}\n${USAGE}`);
    }
  }).json;
  return o;
}

/** The services of one run, whatever the mode. */
interface Setup { g1: Gateway; g2: Gateway; bridge: Bridge; close(): Promise<void>; logTails(): string; describe: string }

async function standalone(o: Options): Promise<Setup> {
  const h = new Harness('bench-forwarding');
  try {
    const [s1, s2] = await Promise.all([h.startStore({ id: 'g1-s1', group: 'g1' }), h.startStore({ id: 'g2-s1', group: 'g2' })]);
    const [g1, g2] = await Promise.all([h.startGateway(s1, { id: 'g1-gw1' }), h.startGateway(s2, { id: 'g2-gw1' })]);
    const bridge = new Bridge({
      name: 'bridge-b1', script: 'apps/bridge/dist/main.js',
      // --zk.address= : no active/standby lock (one bridge, standalone groups).
      args: ['--bridge.id', 'b1', '--groups', 'g1,g2', '--stores', `g1=${s1.address},g2=${s2.address}`, '--zk.address=',
        '--http.port', '0', '--prefetch', String(o.prefetch)],
      readyMsg: 'bridge ready', portFlags: { '--http.port': 'httpPort' },
    }, h.logDir);
    await h.startService(bridge);
    await bridge.waitState('active');
    return { g1, g2, bridge, close: () => h.close(), logTails: () => h.logTails(40), describe: '2 standalone stores (1 per group, default --sync), 1 gateway per group, 1 bridge (no ZooKeeper lock)' };
  } catch (err) {
    process.stderr.write(h.logTails(40) + '\n');
    await h.close();
    throw err;
  }
}

async function replicated(o: Options): Promise<Setup> {
  const c1 = await Cluster.start({ name: 'bench-forwarding', group: 'g1' });
  try {
    const c2 = await Cluster.join(c1, { group: 'g2' });
    const bridge = await c1.startBridge([c1, c2], { id: 'b1', args: ['--prefetch', String(o.prefetch)] });
    await bridge.waitState('active');
    return { g1: c1.gateway, g2: c2.gateway, bridge, close: () => c1.close(), logTails: () => c1.logTails(40), describe: 'ZooKeeper + 2 groups of 3 replicated stores (quorum_mem) + 2 coordinators, 1 gateway per group, 1 bridge (ZooKeeper lock, topology masters)' };
  } catch (err) {
    await c1.close();
    throw err;
  }
}

/** Sum, count and bucket counts of hawser_bridge_forward_seconds (all label sets). */
export function parseForwardHistogram(text: string): { count: number; sum: number; buckets: Array<[number, number]> } {
  let count = 0;
  let sum = 0;
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = /^hawser_bridge_forward_seconds_(bucket|sum|count)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (m[1] === 'sum') sum += v;
    else if (m[1] === 'count') count += v;
    else {
      const le = /le="([^"]+)"/.exec(m[2]!)?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + v);
    }
  }
  return { count, sum, buckets: [...buckets].sort((a, b) => a[0] - b[0]) };
}

/** The upper bound of the bucket holding quantile q (Prometheus-style, no interpolation). */
export function bucketQuantile(buckets: Array<[number, number]>, count: number, q: number): number {
  const rank = q * count;
  for (const [le, n] of buckets) if (n >= rank) return le;
  return Infinity;
}

interface Result {
  settings: Options; setup: string; machine: { nproc: number; cpu: string; ramGiB: number; node: string };
  sent: number; receipted: number; sendErrors: number; consumed: number; duplicates: number;
  produceMs: number; forwardMs: number; producedPerSec: number; forwardedPerSec: number;
  endToEndMs: Summary & { p99: number }; idleForwardMs: Summary & { p99: number }; bridgeForwardMs: { count: number; mean: number; p50Bucket: number; p99Bucket: number };
}

async function run(o: Options): Promise<Result> {
  const setup = o.mode === 'replicated' ? await replicated(o) : await standalone(o);
  try {
    const q = `/queue/bench.forwarding.${Date.now().toString(36)}`;
    const consumer = await connect(setup.g2.stompUri, { connectTimeoutMs: 10_000, receiptTimeoutMs: 30_000 });
    const producer = await connect(setup.g1.stompUri, { connectTimeoutMs: 10_000, receiptTimeoutMs: 30_000 });
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 1000 });
    // Wait until the bridge saw g2's demand: a probe sent on g1 arrives on g2.
    await checkFor(20_000, 0, async () => {
      await producer.send(q, 'probe', { persistent: true });
      const m = await sub.tryNext(300);
      if (!m) throw new Error('probe not forwarded yet');
      m.ack({ receipt: false }).catch(() => undefined);
    });
    for (let m = await sub.tryNext(500); m; m = await sub.tryNext(500)) m.ack({ receipt: false }).catch(() => undefined);
    const before = parseForwardHistogram((await httpGet(setup.bridge.httpPort, '/metrics')).body);

    const body = Buffer.alloc(o.size, 'x');
    const latencies: number[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    let lastAt = 0;
    const t0 = Date.now();
    const consuming = (async () => {
      while (seen.size < o.messages) {
        const m = await sub.tryNext(30_000);
        if (!m) break;
        const now = Date.now();
        const id = m.header('bench-seq');
        if (id === undefined) { m.ack({ receipt: false }).catch(() => undefined); continue; }
        if (seen.has(id)) duplicates++;
        seen.add(id);
        latencies.push(now - Number(m.header('bench-sent-at')));
        lastAt = now;
        m.ack({ receipt: false }).catch(() => undefined);
      }
    })();
    // Window of W receipts outstanding; each SEND is built when its slot frees, so its
    // bench-sent-at is the time it went out (not the time it was queued in the client).
    const w = producer.pipeline(o.window);
    let receipted = 0;
    let sendErrors = 0;
    let next = 0;
    await Promise.all(Array.from({ length: o.window }, async () => {
      for (let i = next++; i < o.messages; i = next++) {
        await w.send(q, body, { persistent: true, headers: { 'bench-seq': String(i), 'bench-sent-at': String(Date.now()) } })
          .then(() => { receipted++; }, () => { sendErrors++; });
      }
    }));
    const produceMs = Date.now() - t0;
    await consuming;
    const forwardMs = lastAt - t0;
    const after = parseForwardHistogram((await httpGet(setup.bridge.httpPort, '/metrics')).body);
    // Unloaded forward latency: one message at a time, the next once the previous arrived in g2.
    const idle: number[] = [];
    for (let i = 0; i < o.latencyMessages; i++) {
      const at = Date.now();
      await producer.send(q, 'idle', { persistent: true, headers: { 'bench-idle': String(i) } });
      const m = await sub.next(10_000);
      idle.push(Date.now() - at);
      m.ack({ receipt: false }).catch(() => undefined);
    }
    const delta: Array<[number, number]> = after.buckets.map(([le, n]) => [le, n - (before.buckets.find((b) => b[0] === le)?.[1] ?? 0)]);
    const fwdCount = after.count - before.count;
    await Promise.all([producer.disconnect().catch(() => producer.destroy()), consumer.disconnect().catch(() => consumer.destroy())]);
    return {
      settings: o, setup: setup.describe,
      machine: { nproc: cpus().length, cpu: cpus()[0]?.model ?? '?', ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version },
      sent: o.messages, receipted, sendErrors, consumed: seen.size, duplicates,
      produceMs, forwardMs,
      producedPerSec: Math.round((receipted / produceMs) * 1000),
      forwardedPerSec: Math.round((seen.size / Math.max(1, forwardMs)) * 1000),
      endToEndMs: { ...summarize(latencies), mean: Math.round(summarize(latencies).mean * 10) / 10, p99: percentile(latencies, 99) },
      idleForwardMs: { ...summarize(idle), mean: Math.round(summarize(idle).mean * 10) / 10, p99: percentile(idle, 99) },
      bridgeForwardMs: {
        count: fwdCount,
        mean: fwdCount > 0 ? Math.round(((after.sum - before.sum) / fwdCount) * 10_000) / 10 : 0,
        p50Bucket: bucketQuantile(delta, fwdCount, 0.5) * 1000,
        p99Bucket: bucketQuantile(delta, fwdCount, 0.99) * 1000,
      },
    };
  } catch (err) {
    process.stderr.write(`${setup.logTails()}\n`);
    throw err;
  } finally {
    await setup.close();
  }
}

async function main(): Promise<void> {
  let o: Options;
  try { o = parseArgs(process.argv.slice(2)); } catch (err) { process.exit(usageExit(err)); }
  const r = await run(o);
  if (o.json) { process.stdout.write(JSON.stringify(r, null, 2) + '\n'); } else {
    const e = r.endToEndMs;
    process.stdout.write([
      `setup: ${r.setup}`,
      `machine: ${r.machine.nproc} x ${r.machine.cpu}, ${r.machine.ramGiB} GiB, node ${r.machine.node}`,
      `${r.sent} x ${o.size} B persistent, window ${o.window}, bridge prefetch ${o.prefetch}`,
      `produced into g1: ${r.receipted} receipted (${r.sendErrors} errors) in ${r.produceMs} ms = ${r.producedPerSec} msg/s`,
      `forwarded to g2:  ${r.consumed} consumed (${r.duplicates} duplicates) in ${r.forwardMs} ms = ${r.forwardedPerSec} msg/s`,
      `under load, end-to-end (SEND g1 -> MESSAGE g2) ms: median ${e.median}, p90 ${e.p90}, p99 ${e.p99}, max ${e.max}, min ${e.min}, mean ${e.mean}`,
      `idle forward, one at a time (SEND g1 -> MESSAGE g2), ${r.idleForwardMs.n} msgs, ms: median ${r.idleForwardMs.median}, p90 ${r.idleForwardMs.p90}, p99 ${r.idleForwardMs.p99}, max ${r.idleForwardMs.max}`,
      `bridge forward under load (delivery g1 -> receipt g2), ${r.bridgeForwardMs.count} forwards: mean ${r.bridgeForwardMs.mean} ms, p50 <= ${r.bridgeForwardMs.p50Bucket} ms, p99 <= ${r.bridgeForwardMs.p99Bucket} ms (histogram buckets)`,
    ].join('\n') + '\n');
  }
  process.exit(r.consumed === r.receipted && r.duplicates === 0 && r.sendErrors === 0 ? 0 : 1);
}

if (require.main === module) {
  main().catch((err: unknown) => { process.stderr.write(`forwarding bench failed: ${(err as Error).stack ?? String(err)}\n`); process.exit(1); });
}
