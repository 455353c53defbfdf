#!/usr/bin/env node
// The latency floor of a replicated group's message path on this machine, without a broker:
// four processes (a client, a master, two slaves) pass 1 KiB messages the way a group of 3
// with the client on the master does — the client SENDs (paced, a window in flight), the master
// proposes each turn's entries to both slaves, commits on the first slave's ack (2 of 3),
// answers with a receipt and delivers the message back, the client acks it and the master
// proposes the ack too. No STOMP, no broker core, no journal, no RocksDB: what is left is the
// processes, their wake-ups and the replication transport (`--transport grpc`: the real
// Replication.Stream contract with the stores' channel and server options; `tcp`: plain
// length-prefixed frames). `--work M,S,C` adds that many µs of CPU per message to the master,
// each slave and the client (a spin), to see how the tail grows with CPU per message;
// `--heap-objects N` makes the master and the slaves hold N small objects for their whole life
// (a broker's live heap: its code, indexes, windows), to see what garbage collection of a heap
// that size adds. Prints p50/p90/p99 send->receipt and each process's CPU per message (/proc).
//
//   node tools/bench/dist/floor.js [--rate 6400] [--duration 8] [--warmup 3] [--window 64]
//        [--transport grpc|tcp] [--work 0,0,0] [--heap-objects 0] [--json]
//
// The four processes load only what their part needs: loading @hawser/proto (gRPC, protobufjs,
// the contracts) into the TCP floor's processes alone took its p99 from 0.5 to 3-4 ms.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { createInterface } from 'node:readline';
import type * as Proto from '@hawser/proto';
import type { ReplicationBatch } from '@hawser/proto';
import { eachOption, numberOption, usageExit, UsageError } from './args';
import { percentile } from './stats';

const USAGE = 'usage: hawser-bench-floor [--rate N=6400] [--duration S=8] [--warmup S=3] [--window N=64] [--transport grpc|tcp] [--work M,S,C=0,0,0] [--heap-objects N=0] [--json]';
const BODY_BYTES = 1024;

export interface Options { rate: number; duration: number; warmup: number; window: number; transport: 'grpc' | 'tcp'; work: [number, number, number]; heapObjects: number; json: boolean }

export function parseArgs(argv: string[]): Options {
  const o: Options = { rate: 6400, duration: 8, warmup: 3, window: 64, transport: 'grpc', work: [0, 0, 0], heapObjects: 0, json: false };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (name === 'rate') o.rate = numberOption(a, v, { integer: true, what: 'a rate in msg/s' });
    else if (name === 'duration' || name === 'warmup') o[name] = numberOption(a, v, { zero: name === 'warmup', what: 'a number of seconds' });
    else if (name === 'heap-objects') o.heapObjects = numberOption(a, v, { integer: true, zero: true, what: 'a number of objects' });
    else if (name === 'window') o.window = numberOption(a, v, { integer: true, what: 'a number of SENDs awaiting a receipt' });
    else if (name === 'transport') {
      if (v !== 'grpc' && v !== 'tcp') throw new UsageError(`--transport: unknown '${v}' (known: grpc, tcp)`);
      o.transport = v;
    } else if (name === 'work') {
      const w = v.split(',').map((x) => Number(x));
      if (w.length !== 3 || w.some((x) => !Number.isFinite(x) || x < 0)) throw new UsageError(`--work: expected three numbers of µs (master,slave,client), got '${v}'`);
      o.work = [w[0]!, w[1]!, w[2]!];
    } else throw new UsageError(`unknown option ${a}\n${USAGE}`);
  }).json;
  return o;
}

// ---- the processes' parts -------------------------------------------------------------------

/** Spins `us` µs of CPU (the modelled work of a message). */
function spin(us: number): void {
  if (us <= 0) return;
  const until = performance.now() + us / 1000;
  while (performance.now() < until) { /* busy */ }
}

/** Length-prefixed frames (u32 length, then type and payload) over a byte stream. */
export function frameReader(onFrame: (type: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    let o = 0;
    while (buf.length - o >= 5) {
      const len = buf.readUInt32BE(o);
      if (buf.length - o < 4 + len) break;
      onFrame(buf[o + 4]!, buf.subarray(o + 5, o + 4 + len));
      o += 4 + len;
    }
    buf = o === buf.length ? Buffer.alloc(0) : buf.subarray(o);
  };
}

export function frame(type: number, ...parts: Buffer[]): Buffer {
  const len = parts.reduce((s, p) => s + p.length, 0);
  const b = Buffer.allocUnsafe(5 + len);
  b.writeUInt32BE(len + 1, 0);
  b[4] = type;
  let o = 5;
  for (const p of parts) o += p.copy(b, o);
  return b;
}

/** N small objects held for the process's life (a broker's live heap, for --heap-objects). */
const held: unknown[][] = [];
function holdHeap(n: number): void { if (n > 0) held.push(Array.from({ length: n }, (_, i) => ({ i, name: `held-${i}` }))); }

const u32 = (n: number): Buffer => { const b = Buffer.allocUnsafe(4); b.writeUInt32BE(n >>> 0, 0); return b; };

/** A socket writer that corks for the rest of the turn (one write per turn, as the gateway does). */
function corked(sock: net.Socket): (b: Buffer) => void {
  let pending = false;
  return (b) => {
    if (!pending) { pending = true; sock.cork(); process.nextTick(() => { pending = false; sock.uncork(); }); }
    sock.write(b);
  };
}

const F_SEND = 1, F_RECEIPT = 2, F_MESSAGE = 3, F_ACK = 4, F_APPEND = 5, F_APPEND_ACK = 6;
const HELD = 10_000; // entries a slave keeps, as the stores' replication log

/** A slave: keeps what it is sent (bounded) and acks each batch at once. */
function slave(transport: Options['transport'], workUs: number, heapObjects: number): void {
  holdHeap(heapObjects);
  const log: Buffer[] = [];
  const keep = (b: Buffer) => { log.push(b); if (log.length > HELD) log.shift(); };
  if (transport === 'tcp') {
    const srv = net.createServer((s) => {
      s.setNoDelay(true);
      const w = corked(s);
      s.on('data', frameReader((t, p) => {
        if (t !== F_APPEND) return;
        const count = p.readUInt32BE(4);
        spin(workUs * count);
        keep(Buffer.from(p));
        w(frame(F_APPEND_ACK, p.subarray(0, 4)));
      }));
    });
    srv.listen(0, '127.0.0.1', () => process.stdout.write(`${(srv.address() as net.AddressInfo).port}\n`));
    return;
  }
  // Loaded only for gRPC: the TCP floor's processes carry none of it in their heaps.
  const { grpc, replicationService, SERVER_OPTIONS } = require('@hawser/proto') as typeof Proto;
  const srv = new grpc.Server(SERVER_OPTIONS);
  srv.addService(replicationService().service, {
    Stream: (call: Proto.grpc.ServerDuplexStream<ReplicationBatch, ReplicationBatch>) => {
      call.on('data', (b: ReplicationBatch) => {
        for (const m of b.messages ?? []) {
          const a = (m as { append?: { entries?: Array<{ position: number | string; data: Buffer }> } }).append;
          if (!a?.entries?.length) continue;
          spin(workUs * a.entries.length);
          for (const e of a.entries) keep(e.data);
          const last = Number(a.entries[a.entries.length - 1]!.position);
          call.write({ messages: [{ ack: { from: 's', epoch: 1, incarnation: 1, received: last, persisted: 0 } }] } as unknown as ReplicationBatch);
        }
      });
      call.on('end', () => call.end());
    },
    Snapshot: (call: Proto.grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  });
  srv.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) { process.stderr.write(`bind: ${err.message}\n`); process.exit(1); }
    process.stdout.write(`${port}\n`);
  });
}

/** The master: proposes each turn's entries to both slaves, commits on the first ack, answers the client. */
function master(transport: Options['transport'], slavePorts: number[], workUs: number, heapObjects: number): void {
  holdHeap(heapObjects);
  let position = 0;
  let committed = 0;
  const onCommit = new Map<number, () => void>();
  let batch: Buffer[] = [];
  let scheduled = false;
  const commit = (upto: number) => {
    while (committed < upto) {
      committed++;
      const f = onCommit.get(committed);
      onCommit.delete(committed);
      f?.();
    }
  };
  const writers: Array<(first: number, entries: Buffer[]) => void> = slavePorts.map((port) => {
    if (transport === 'tcp') {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      s.on('data', frameReader((t, p) => { if (t === F_APPEND_ACK) commit(p.readUInt32BE(0)); }));
      const w = corked(s);
      return (first, entries) => w(frame(F_APPEND, u32(first + entries.length - 1), u32(entries.length), ...entries));
    }
    const { grpc, replicationService, CHANNEL_OPTIONS } = require('@hawser/proto') as typeof Proto;
    const Rep = replicationService();
    const c = new Rep(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 });
    const call = (c as unknown as { Stream(): Proto.grpc.ClientDuplexStream<ReplicationBatch, ReplicationBatch> }).Stream();
    call.on('data', (b: ReplicationBatch) => {
      for (const m of b.messages ?? []) {
        const a = (m as { ack?: { received: number | string } }).ack;
        if (a) commit(Number(a.received));
      }
    });
    return (first, entries) => call.write({
      messages: [{ append: { from: 'm', epoch: 1, prevEpoch: 1, prevPosition: first - 1, commitPosition: committed, entries: entries.map((data, i) => ({ epoch: 1, position: first + i, data })) } }],
    } as unknown as ReplicationBatch);
  });
  const propose = (entry: Buffer, done?: () => void) => {
    position++;
    if (done) onCommit.set(position, done);
    batch.push(entry);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const entries = batch;
      batch = [];
      const first = position - entries.length + 1;
      for (const w of writers) w(first, entries);
    });
  };
  const srv = net.createServer((c) => {
    c.setNoDelay(true);
    const w = corked(c);
    c.on('data', frameReader((t, p) => {
      if (t === F_SEND) {
        spin(workUs);
        const entry = Buffer.from(p); // the message, copied out of the read buffer as a journal entry would be
        propose(entry, () => { w(frame(F_RECEIPT, entry.subarray(0, 4))); w(frame(F_MESSAGE, entry)); });
      } else if (t === F_ACK) propose(Buffer.from(p));
    }));
  });
  srv.listen(0, '127.0.0.1', () => process.stdout.write(`${(srv.address() as net.AddressInfo).port}\n`));
}

export interface ClientResult { measured: number; lost: number; p50: number; p90: number; p99: number; max: number }

/** The client: paced SENDs (bursts of at most 1 ms, as `hawser bench --rate`), a window in flight, acks every delivery. */
function client(port: number, o: Options): void {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  const w = corked(sock);
  const body = Buffer.alloc(BODY_BYTES, 0x78);
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let seq = 0;
  let inFlight = 0;
  let delivered = 0;
  const start = performance.now();
  const measureFrom = start + o.warmup * 1000;
  const end = measureFrom + o.duration * 1000;
  const perMs = o.rate / 1000;
  sock.on('data', frameReader((t, p) => {
    if (t === F_RECEIPT) {
      spin(o.work[2]);
      const s = p.readUInt32BE(0);
      const t0 = sentAt.get(s)!;
      sentAt.delete(s);
      inFlight--;
      if (t0 >= measureFrom) latencies.push(performance.now() - t0);
    } else if (t === F_MESSAGE) {
      delivered++;
      w(frame(F_ACK, p.subarray(0, 4)));
    }
  }));
  const report = () => {
    latencies.sort((a, b) => a - b);
    const r: ClientResult = { measured: latencies.length, lost: seq - delivered, p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? NaN };
    process.stdout.write(`${JSON.stringify(r)}\n`);
    sock.destroy();
    process.exit(0);
  };
  const pump = () => {
    const now = performance.now();
    if (now >= end) {
      // Everything sent is receipted and delivered within a deadline; what is not counts as lost.
      const deadline = now + 5000;
      const wait = () => (inFlight === 0 && delivered === seq) || performance.now() > deadline ? report() : setTimeout(wait, 5);
      wait();
      return;
    }
    while (inFlight < o.window && start + seq / perMs <= now) {
      seq++;
      inFlight++;
      sentAt.set(seq, performance.now());
      w(frame(F_SEND, u32(seq), body));
    }
    setTimeout(pump, Math.max(1, start + seq / perMs - performance.now()));
  };
  sock.on('connect', pump);
  sock.on('error', (e) => { process.stderr.write(`client: ${e.message}\n`); process.exit(1); });
}

// ---- the run ----------------------------------------------------------------------------------

interface Proc { name: string; child: ChildProcess; firstLine: Promise<string>; lastLine: () => string }

function start(name: string, args: string[]): Proc {
  // HAWSER_FLOOR_NODE_ARGS='--trace-gc ...': Node/V8 flags for the four processes (as HAWSER_NODE_ARGS for services).
  const nodeArgs = (process.env.HAWSER_FLOOR_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, __filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let first!: (s: string) => void;
  const firstLine = new Promise<string>((res, rej) => {
    first = res;
    child.once('exit', (code) => rej(new Error(`${name} exited (${code}) before it was ready`)));
  });
  firstLine.catch(() => undefined); // the client prints no port: only awaited for slaves and the master
  // A port (slave, master) or a JSON line (client); other lines (NODE_OPTIONS=--trace-gc) pass through to stderr.
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (/^\d+$/.test(l)) first(l);
    else if (l.startsWith('{')) lines.push(l);
    else process.stderr.write(`[${name}] ${l}\n`);
  });
  return { name, child, firstLine, lastLine: () => lines[lines.length - 1] ?? '' };
}

export interface FloorResult extends ClientResult { options: Omit<Options, 'json'>; cpuUsPerMessage: Record<string, number> }

export async function run(o: Options): Promise<FloorResult> {
  // Here, not at the top: cpu.js brings the integration harness, which the four processes need not carry.
  const { sample } = require('./cpu') as typeof import('./cpu');
  const procs: Proc[] = [];
  try {
    const slaves = [start('slave1', ['--role', 'slave', o.transport, String(o.work[1]), String(o.heapObjects)]), start('slave2', ['--role', 'slave', o.transport, String(o.work[1]), String(o.heapObjects)])];
    procs.push(...slaves);
    const ports = await Promise.all(slaves.map((s) => s.firstLine));
    const m = start('master', ['--role', 'master', o.transport, String(o.work[0]), String(o.heapObjects), ...ports]);
    procs.push(m);
    const port = await m.firstLine;
    const before = new Map(procs.map((p) => [p.name, sample(p.child.pid!)]));
    const c = start('client', ['--role', 'client', port, JSON.stringify(o)]);
    procs.push(c);
    let clientLast: ReturnType<typeof sample> | undefined;
    const poll = setInterval(() => { clientLast = sample(c.child.pid!) ?? clientLast; }, 50);
    const code = await new Promise<number>((res) => c.child.once('exit', (x) => res(x ?? 1)));
    clearInterval(poll);
    if (code !== 0) throw new Error(`the client exited with ${code}`);
    const r = JSON.parse(c.lastLine()) as ClientResult;
    const sent = o.rate * (o.warmup + o.duration); // all of them, the warm-up too: CPU is read over the whole client run
    const cpuUsPerMessage: Record<string, number> = {};
    for (const p of procs.slice(0, 3)) {
      const a = before.get(p.name);
      const b = sample(p.child.pid!);
      if (a && b) cpuUsPerMessage[p.name] = ((b.ticks - a.ticks) * 10_000) / sent;
    }
    if (clientLast) cpuUsPerMessage.client = (clientLast.ticks * 10_000) / sent;
    const { json: _json, ...options } = o;
    return { ...r, options, cpuUsPerMessage };
  } finally {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => (p.child.exitCode !== null || p.child.signalCode !== null ? undefined : new Promise((res) => p.child.once('exit', res)))));
  }
}

export function text(r: FloorResult): string {
  const cpu = ['master', 'slave1', 'slave2', 'client'].map((k) => (r.cpuUsPerMessage[k] === undefined ? '-' : Math.round(r.cpuUsPerMessage[k]!))).join(' / ');
  return `floor, ${r.options.transport}, ${r.options.rate} msg/s, window ${r.options.window}, work ${r.options.work.join(',')} µs, ${r.options.heapObjects} held objects: `
    + `send->receipt p50 ${r.p50.toFixed(2)} / p90 ${r.p90.toFixed(2)} / p99 ${r.p99.toFixed(2)} / max ${r.max.toFixed(2)} ms over ${r.measured} messages, lost ${r.lost}; `
    + `CPU µs per message master / slave1 / slave2 / client: ${cpu}`;
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseArgs(argv); } catch (e) { return usageExit(e); }
  const r = await run(o);
  process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${text(r)}\n`);
  return r.lost ? 1 : 0;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--role') {
    // A process of the run (started by run()): --role slave|master|client ...
    const [, role, a, b, ...rest] = argv;
    if (role === 'slave') slave(a as Options['transport'], Number(b), Number(rest[0]));
    else if (role === 'master') master(a as Options['transport'], rest.slice(1).map(Number), Number(b), Number(rest[0]));
    else client(Number(a), JSON.parse(b!) as Options);
  } else {
    main(argv).then((code) => process.exit(code), (e: Error) => { process.stderr.write(`${e.stack ?? e.message}\n`); process.exit(1); });
  }
}
