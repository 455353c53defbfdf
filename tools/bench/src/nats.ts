#!/usr/bin/env node
// NATS JetStream measured with the rows of compare.ts (the `hawser bench` semantics), so the
// throughput table can put it beside Hawser: a private cluster of 3 (or 1) nats-server
// processes on loopback, a fresh work-queue stream per row, P producers keeping `window`
// js.publish() calls in flight (the PubAck, sent once the replicas have the message, is the
// receipt), C consumers on one shared durable pull consumer acking each message.
//
//   node tools/bench/dist/nats.js [--replicas 3] [--duration 15] [--rows rpm,w64,p4c4,half] [--json]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AckPolicy, connect, RetentionPolicy, StorageType, type JetStreamManager, type NatsConnection } from 'nats';
import { freePort, releasePort } from '@hawser/zookeeper-launcher';
import { eachOption, numberOption, usageExit, UsageError } from './args';

/** nats-server is missing, did not come up in time, or exited while starting. */
export class NatsLaunchError extends Error {
  constructor(message: string, readonly code: 'NATS_NOT_INSTALLED' | 'NATS_START_TIMEOUT' | 'NATS_EXITED') {
    super(message);
    this.name = 'NatsLaunchError';
  }
}

export interface NatsCluster { urls: string[]; pids: number[]; dir: string; version: string; stop(): Promise<void> }

export interface NatsRow { key: string; producers: number; consumers: number; window: number; persistent: boolean; rate?: number }

export type { Cell } from './stats';
import type { Cell } from './stats';

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const say = (s: string) => process.stderr.write(`[nats] ${s}\n`);

/** The nats-server binary: $NATS_SERVER, else PATH plus /usr/sbin (Debian installs it there, outside a user's PATH). */
export function natsServerBinary(): string {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'].filter(Boolean);
  const candidates = process.env['NATS_SERVER'] ? [process.env['NATS_SERVER']] : dirs.map((d) => join(d, 'nats-server'));
  for (const c of candidates) {
    try { accessSync(c, constants.X_OK); return c; } catch { /* next */ }
  }
  throw new NatsLaunchError(`nats-server is not installed (${process.env['NATS_SERVER'] ? `$NATS_SERVER=${process.env['NATS_SERVER']}` : 'not on PATH nor in /usr/sbin'}); install it: apt-get install nats-server`, 'NATS_NOT_INSTALLED');
}

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

async function killAll(children: ChildProcess[], graceMs = 5000): Promise<void> {
  const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined && alive(c.pid));
  for (const c of running()) c.kill('SIGTERM');
  for (const deadline = Date.now() + graceMs; running().length > 0 && Date.now() < deadline;) await sleep(50);
  for (const c of running()) c.kill('SIGKILL');
  for (const deadline = Date.now() + 5000; running().length > 0 && Date.now() < deadline;) await sleep(20);
}

/**
 * Starts 3 (or 1) nats-server processes with JetStream on loopback ports in a temp dir. Ready
 * when a stream with `replicas` replicas can be created: before the meta group has its peers,
 * JetStream answers but refuses R3 streams.
 */
export async function startNatsCluster(opts: { replicas?: 1 | 3; startTimeoutMs?: number } = {}): Promise<NatsCluster> {
  const bin = natsServerBinary();
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim().replace(/^nats-server:\s*v?/, '');
  const n = opts.replicas ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'hawser-bench-nats-'));
  const ports = await Promise.all(Array.from({ length: n * 2 }, () => freePort()));
  const client = ports.slice(0, n);
  const route = ports.slice(n);
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  let spawnError: Error | undefined;
  const stop = async () => {
    await killAll(children);
    ports.forEach(releasePort);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < n; i++) {
      const name = `n${i + 1}`;
      const cluster = n === 1 ? '' : `cluster {\n  name: hawser-bench\n  listen: 127.0.0.1:${route[i]}\n  routes: [${route.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]\n}\n`;
      const conf = join(dir, `${name}.conf`);
      writeFileSync(conf, `server_name: ${name}\nlisten: 127.0.0.1:${client[i]}\njetstream {\n  store_dir: "${join(dir, name)}"\n}\n${cluster}`);
      const log = join(dir, `${name}.log`);
      logs.push(log);
      const fd = openSync(log, 'a');
      try {
        const child = spawn(bin, ['-c', conf], { stdio: ['ignore', fd, fd] });
        child.on('error', (e) => { spawnError ??= e; });
        children.push(child);
      } finally { closeSync(fd); }
    }
    const urls = client.map((p) => `nats://127.0.0.1:${p}`);
    await waitReady(urls, n, children, logs, opts.startTimeoutMs ?? 60_000, () => spawnError);
    return { urls, pids: children.map((c) => c.pid!), dir, version, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

const tail = (file: string) => { try { return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n'); } catch { return ''; } };

async function waitReady(urls: string[], replicas: number, children: ChildProcess[], logs: string[], timeoutMs: number, spawnError: () => Error | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt yet';
  for (;;) {
    const se = spawnError();
    if (se) throw new NatsLaunchError(`nats-server did not start: ${se.message}`, 'NATS_EXITED');
    const dead = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead >= 0) throw new NatsLaunchError(`nats-server n${dead + 1} exited while starting:\n${tail(logs[dead]!)}`, 'NATS_EXITED');
    if (Date.now() > deadline) throw new NatsLaunchError(`JetStream not ready after ${timeoutMs} ms (${last}); n1's log:\n${tail(logs[0]!)}`, 'NATS_START_TIMEOUT');
    let nc: NatsConnection | undefined;
    try {
      // Every server must take clients, and the cluster must place a stream on all replicas.
      for (const u of urls) { const c = await connect({ servers: u, timeout: 1000, reconnect: false }); await c.close(); }
      nc = await connect({ servers: urls, timeout: 1000, reconnect: false });
      const jsm = await nc.jetstreamManager({ timeout: 2000 });
      await jsm.streams.add({ name: 'READY_PROBE', subjects: ['ready.probe'], num_replicas: replicas, storage: StorageType.File });
      await jsm.streams.delete('READY_PROBE');
      return;
    } catch (e) {
      last = (e as Error).message;
    } finally {
      await nc?.close().catch(() => undefined);
    }
    await sleep(250);
  }
}

const ACKED = 1;
const CONSUMED = 2;

/** Per message id (producer, n): publish acknowledged, consumed; counts what is still owed. */
class Ledger {
  private readonly states: Uint8Array[] = [];
  pending = 0; // acknowledged, not consumed yet
  received = 0;
  duplicates = 0;
  stale = 0;
  private at(p: number, n: number): Uint8Array {
    let s = this.states[p] ?? new Uint8Array(1024);
    if (n >= s.length) { const g = new Uint8Array(Math.max(n + 1, s.length * 2)); g.set(s); s = g; }
    this.states[p] = s;
    return s;
  }
  acked(p: number, n: number): void {
    const s = this.at(p, n);
    if (!(s[n]! & CONSUMED)) this.pending++;
    s[n]! |= ACKED;
  }
  consumed(p: number, n: number): void {
    const s = this.at(p, n);
    if (s[n]! & CONSUMED) { this.duplicates++; return; }
    s[n]! |= CONSUMED;
    this.received++;
    if (s[n]! & ACKED) this.pending--;
  }
}

const SIZE = 1024;

/** A 1 KiB body starting with `<producer>-<n>\n` (the id the consumers check). */
function body(id: string): Uint8Array {
  const b = new Uint8Array(SIZE).fill(0x78);
  for (let i = 0; i < id.length; i++) b[i] = id.charCodeAt(i);
  b[id.length] = 0x0a;
  return b;
}

/** [producer, n] from a body written by `body`; undefined for anything else. */
export function parseId(b: Uint8Array): [number, number] | undefined {
  let p = 0;
  let n = 0;
  let i = 0;
  for (; i < 12 && b[i]! >= 0x30 && b[i]! <= 0x39; i++) p = p * 10 + b[i]! - 0x30;
  if (i === 0 || b[i] !== 0x2d) return undefined;
  const start = ++i;
  for (; i < start + 16 && b[i]! >= 0x30 && b[i]! <= 0x39; i++) n = n * 10 + b[i]! - 0x30;
  return i > start && b[i] === 0x0a ? [p, n] : undefined;
}

function sortedPercentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

const errorCell = (error: string): Cell => ({ msgPerSec: 0, p99ReceiptMs: NaN, p50ReceiptMs: NaN, sent: 0, lost: 0, duplicates: 0, failedSends: 0, exit: 1, error });

/**
 * One row against the cluster at `urls`, as `hawser bench --duration` runs it: a fresh
 * work-queue stream (deleted afterwards), producers for `durationS` seconds, then a drain
 * until every acknowledged publish was consumed or nothing came for 10 s.
 */
export async function benchNats(urls: string[], row: NatsRow, durationS: number, replicas: 1 | 3, warmupS = 0, drainIdleMs = 10_000): Promise<Cell> {
  // Core NATS has no persistent-vs-not switch on a JetStream stream: nothing to compare with.
  if (!row.persistent) return errorCell('not applicable');
  const tag = randomBytes(4).toString('hex');
  const stream = `BENCH_${row.key}_${tag}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const subject = `bench.${stream}`;
  const durable = 'bench';
  const conns: NatsConnection[] = [];
  const errors: string[] = [];
  const note = (what: string, e: unknown) => { if (errors.length < 5) errors.push(`${what}: ${(e as Error)?.message ?? e}`); };
  let jsm: JetStreamManager | undefined;
  try {
    const admin = await connect({ servers: urls, name: 'bench-admin' });
    conns.push(admin);
    jsm = await admin.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [subject], num_replicas: replicas, storage: StorageType.File, retention: RetentionPolicy.Workqueue });
    await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit });
    const ledger = new Ledger();
    let lastConsumed = now();

    // Consumers first, so the producers' first messages already have a taker.
    const consumerRuns = await Promise.all(Array.from({ length: row.consumers }, async (_, c) => {
      const nc = await connect({ servers: urls, name: `bench-c${c}` });
      conns.push(nc);
      const msgs = await (await nc.jetstream().consumers.get(stream, durable)).consume();
      const done = (async () => {
        for await (const m of msgs) {
          m.ack();
          const id = parseId(m.data);
          if (id) ledger.consumed(id[0], id[1]); else ledger.stale++;
          lastConsumed = now();
        }
      })().catch((e) => note(`consumer ${c}`, e));
      return { msgs, done };
    }));
    const producerConns = await Promise.all(Array.from({ length: row.producers }, (_, p) => connect({ servers: urls, name: `bench-p${p}` })));
    conns.push(...producerConns);

    const latencies: number[] = [];
    let sent = 0;
    let acked = 0;
    let measuredAcked = 0;
    let failedSends = 0;
    let lastAck = 0;
    const started = now();
    // `warmupS`: publishing before the measured seconds, not measured (as `hawser bench --warmup`).
    const measureFrom = started + warmupS * 1000;
    const deadline = measureFrom + durationS * 1000;
    // `rate`: each producer's share, paced against its start (catching up in bursts of at most
    // 1 ms of publishes: timers are ms-grained), as `hawser bench --rate` does.
    const perMs = row.rate && row.rate > 0 ? row.rate / row.producers / 1000 : 0;
    await Promise.all(producerConns.map(async (nc, p) => {
      const js = nc.jetstream();
      let inFlight = 0;
      let wake: (() => void) | undefined;
      const release = () => { inFlight--; const w = wake; wake = undefined; w?.(); };
      for (let n = 0; now() < deadline && !nc.isClosed(); n++) {
        while (inFlight >= row.window) await new Promise<void>((r) => { wake = r; });
        if (perMs > 0) {
          const ahead = started + n / perMs - now();
          if (ahead >= 1) await sleep(ahead);
        }
        const id = `${p}-${n}`;
        const t0 = now();
        inFlight++;
        sent++;
        js.publish(subject, body(id), { msgID: id }).then(() => {
          const t = now();
          if (t0 >= measureFrom) {
            latencies.push(t - t0);
            measuredAcked++;
          }
          acked++;
          lastAck = t;
          ledger.acked(p, n);
          release();
        }, (e) => { failedSends++; note(`producer ${p}`, e); release(); });
        // Let the socket and the acks breathe now and then in a long synchronous burst.
        if (row.window > 1 && (n & 255) === 255) await new Promise<void>((r) => setImmediate(r));
      }
      while (inFlight > 0) await new Promise<void>((r) => { wake = r; });
    }));
    const elapsedMs = (lastAck || now()) - measureFrom;

    if (row.consumers > 0) {
      while (ledger.pending > 0 && now() - lastConsumed < drainIdleMs) await sleep(20);
    }
    for (const c of consumerRuns) c.msgs.stop();
    await Promise.all(consumerRuns.map((c) => c.done));

    const sorted = Float64Array.from(latencies).sort();
    const cell: Cell = {
      msgPerSec: elapsedMs > 0 ? measuredAcked / (elapsedMs / 1000) : 0,
      p50ReceiptMs: sortedPercentile(sorted, 50), p99ReceiptMs: sortedPercentile(sorted, 99),
      sent, lost: row.consumers > 0 ? ledger.pending : 0, duplicates: ledger.duplicates, failedSends,
      exit: ledger.pending > 0 || ledger.duplicates > 0 || failedSends > 0 ? 1 : 0,
    };
    if (errors.length > 0) cell.error = errors[0];
    return cell;
  } catch (e) {
    return errorCell((e as Error).message);
  } finally {
    await jsm?.streams.delete(stream).catch(() => undefined); // keeps the store dirs small across rows
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  }
}

export interface RowDef extends NatsRow { title: string }

/** compare.ts's rows; `half` is w64 paced at half of the w64 result (needs w64 first). */
export const ROWS: RowDef[] = [
  { key: 'rpm', title: '1 producer, receipt per message (persistent)', producers: 1, consumers: 1, window: 1, persistent: true },
  { key: 'w64', title: '1 producer, window 64 (persistent)', producers: 1, consumers: 1, window: 64, persistent: true },
  { key: 'p4c4', title: '4 producers + 4 consumers, receipt per message (persistent)', producers: 4, consumers: 4, window: 1, persistent: true },
  { key: 'np64', title: '1 producer, window 64 (non-persistent)', producers: 1, consumers: 1, window: 64, persistent: false },
  { key: 'half', title: '1 producer, window 64 at half its peak rate (persistent)', producers: 1, consumers: 1, window: 64, persistent: true },
];
const DEFAULT_ROWS = ['rpm', 'w64', 'p4c4', 'half'];

interface Options { replicas: 1 | 3; duration: number; rows: RowDef[]; json: boolean }

const USAGE = `usage: node tools/bench/dist/nats.js [--replicas 3|1] [--duration S=15] [--json]
       [--rows ${DEFAULT_ROWS.join(',')}] (also: np64, not applicable to JetStream)`;

export function parseArgs(argv: string[]): Options {
  const o: Options = { replicas: 3, duration: 15, rows: ROWS.filter((r) => DEFAULT_ROWS.includes(r.key)), json: false };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (name === 'duration') o.duration = numberOption(a, v, { what: 'a number of seconds' });
    else if (name === 'replicas') {
      if (v !== '1' && v !== '3') throw new UsageError(`--replicas: expected 1 or 3, got '${v}'`);
      o.replicas = Number(v) as 1 | 3;
    } else if (name === 'rows') {
      const keys = v.split(',').filter(Boolean);
      const bad = keys.find((k) => !ROWS.some((r) => r.key === k));
      if (bad) throw new UsageError(`--rows: unknown '${bad}' (known: ${ROWS.map((r) => r.key).join(', ')})`);
      o.rows = ROWS.filter((r) => keys.includes(r.key));
    } else throw new UsageError(`unknown option ${a}\n${USAGE}`);
  }).json;
  return o;
}

const fmtN = (n: number) => (Number.isFinite(n) && n > 0 ? Math.round(n).toLocaleString('en-US') : '-');
const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : String(Math.round(n))) : '-');

export function table(label: string, rows: RowDef[], cells: Map<string, Cell>): string {
  const lines = [`| row | ${label}: msg/s | p50 ms | p99 ms | lost / dup / failed |`, '| --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const c = cells.get(r.key);
    if (!c) continue;
    if (c.sent === 0 && c.error) { lines.push(`| ${r.title} | ${c.error === 'not applicable' ? 'n/a' : `failed: ${c.error.slice(0, 60)}`} | - | - | - |`); continue; }
    const warn = c.lost || c.duplicates || c.failedSends ? ' ⚠' : '';
    lines.push(`| ${r.title} | ${fmtN(c.msgPerSec)} | ${fmtMs(c.p50ReceiptMs)} | ${fmtMs(c.p99ReceiptMs)} | ${c.lost} / ${c.duplicates} / ${c.failedSends}${warn} |`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseArgs(argv); } catch (e) { return usageExit(e); }
  say(`starting ${o.replicas} nats-server${o.replicas > 1 ? 's' : ''}`);
  let cluster: NatsCluster;
  try { cluster = await startNatsCluster({ replicas: o.replicas }); } catch (e) {
    if (!(e instanceof NatsLaunchError)) throw e;
    say(e.message);
    return 1;
  }
  const label = `NATS JetStream ${cluster.version} R${o.replicas}`;
  const cells = new Map<string, Cell>();
  let failed = false;
  try {
    for (const r of o.rows) {
      let row: NatsRow = r;
      if (r.key === 'half') {
        const peak = cells.get('w64')?.msgPerSec ?? 0;
        if (!(peak > 0)) { cells.set(r.key, errorCell('needs the w64 row first')); failed = true; continue; }
        row = { ...r, rate: Math.max(1, Math.round(peak / 2)) };
      }
      const c = await benchNats(cluster.urls, row, o.duration, o.replicas);
      cells.set(r.key, c);
      if ((c.error && c.error !== 'not applicable') || c.lost || c.duplicates || c.failedSends) failed = true;
      say(`${r.title}: ${fmtN(c.msgPerSec)} msg/s, p50 ${fmtMs(c.p50ReceiptMs)} ms, p99 ${fmtMs(c.p99ReceiptMs)} ms, sent ${c.sent}, lost ${c.lost}, dup ${c.duplicates}, failed ${c.failedSends}${c.error ? `, error ${c.error}` : ''}`);
    }
  } finally {
    await cluster.stop();
  }
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version };
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ system: label, settings: { replicas: o.replicas, duration: o.duration, sizeBytes: SIZE }, machine, rows: o.rows, cells: Object.fromEntries(cells) }, null, 2)}\n`);
  } else {
    process.stdout.write(`${table(label, o.rows, cells)}\n\n1 KiB bodies, ${o.duration} s per row, file storage, explicit acks; p50/p99 = publish->PubAck.` +
      ` machine: ${machine.nproc} x ${machine.cpu}, ${machine.ramGiB} GiB, node ${machine.node}\n`);
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: Error) => { process.stderr.write(`${e.stack ?? e.message}\n`); process.exit(1); });
}
