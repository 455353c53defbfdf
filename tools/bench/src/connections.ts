#!/usr/bin/env node
// Connection scale: can one gateway hold N idle, heart-beating STOMP connections and still
// serve >= 80% of its unloaded window-64 rate, and what does an idle connection cost in memory?
//
//   node tools/bench/dist/connections.js [--connections 20000] [--heartbeat 10000] [--duration 10]
//        [--mode separate|embedded] [--warmup 3] [--rate 1000] [--children auto]
//        [--baseline fresh|same] [--rounds 1] [--json]
//
// 1. Starts a standalone store and either a separate gateway (`separate`) or the store's
//    embedded gateway (`embedded`), with limits.maximumConnections = N + 100.
// 2. Warms up (--warmup s), then runs the `hawser bench` w64 row (1 producer, 1 consumer,
//    window 64, 1 KiB persistent) for --duration s: the unloaded rate.
// 3. Opens N idle STOMP 1.2 connections from child processes (plain `net` sockets on
//    loopback, at most --rate per second, several 127.0.0.x source addresses when the
//    ephemeral port range is too small), each sending a heart-beat EOL every --heartbeat ms.
//    RSS (/proc/<pid>/status) of the gateway and the store before and after gives the memory
//    per idle connection.
// 4. With the N connections still open, the same w64 row again: loaded / unloaded.
// 5. Closes the load children (by PID), the services and their temp dir.
// With --baseline fresh (the default) steps 2 and 3-4 run on two fresh systems, each after
// the same warmup: back-to-back w64 runs on ONE store slow down by themselves (measured: the
// 2nd to 6th 8 s runs 10-60% below the 1st, with no idle connections at all), so "unloaded
// first, loaded second on the same store" charges that drift to the connections.
// --baseline same does exactly steps 1-5 on one system. --rounds R repeats it (alternating
// which system goes first) and reports the medians.
// Exit status 0 when measured, 1 when something failed (stderr says what), 2 on usage errors.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { Harness, httpGet } from '@hawser/integration/dist/harness';
import { eachOption, numberOption, usageExit, UsageError } from './args';
import { sample } from './cpu';
import { runCli } from './compare';

export const MODES = ['separate', 'embedded'] as const;
export type Mode = typeof MODES[number];
export const BASELINES = ['fresh', 'same'] as const;
export type Baseline = typeof BASELINES[number];

export interface Options {
  connections: number; heartbeat: number; duration: number; warmup: number;
  mode: Mode; rate: number; children: number | undefined; baseline: Baseline; rounds: number; json: boolean;
}

const USAGE = `usage: hawser-bench-connections [--connections N=20000] [--heartbeat MS=10000] [--duration S=10]
       [--mode separate|embedded] [--warmup S=3] [--rate CONN/S=1000] [--children K=auto] [--baseline fresh|same] [--rounds R=1] [--json]`;

export function parseArgs(argv: string[]): Options {
  const o: Options = { connections: 20_000, heartbeat: 10_000, duration: 10, warmup: 3, mode: 'separate', rate: 1000, children: undefined, baseline: 'fresh', rounds: 1, json: false };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (name === 'connections') o.connections = numberOption(a, v, { integer: true, what: 'a positive number of connections' });
    else if (name === 'heartbeat') o.heartbeat = numberOption(a, v, { integer: true, zero: true, what: 'a heart-beat interval in ms (0: none)' });
    else if (name === 'duration') o.duration = numberOption(a, v, { what: 'a number of seconds' });
    else if (name === 'warmup') o.warmup = numberOption(a, v, { zero: true, what: 'a number of seconds' });
    else if (name === 'rate') o.rate = numberOption(a, v, { what: 'connections per second' });
    else if (name === 'children') o.children = numberOption(a, v, { integer: true, what: 'a positive number of load processes' });
    else if (name === 'rounds') o.rounds = numberOption(a, v, { integer: true, what: 'a positive number of rounds' });
    else if (name === 'baseline') {
      if (!(BASELINES as readonly string[]).includes(v)) throw new UsageError(`--baseline: unknown '${v}' (known: ${BASELINES.join(', ')})`);
      o.baseline = v as Baseline;
    }
    else if (name === 'mode') {
      if (!(MODES as readonly string[]).includes(v)) throw new UsageError(`--mode: unknown '${v}' (known: ${MODES.join(', ')})`);
      o.mode = v as Mode;
    } else throw new UsageError(`unknown option ${a}\n${USAGE}`);
  }).json;
  return o;
}

// ---- the machine's limits ---------------------------------------------------------------

/** Size of the kernel's ephemeral port range (/proc/sys/net/ipv4/ip_local_port_range). */
export function ephemeralPorts(text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')): number {
  const [lo, hi] = text.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi! < lo!) throw new Error(`cannot read ip_local_port_range: '${text.trim()}'`);
  return hi! - lo! + 1;
}

/** Ports kept free on each source address for everything else (the bench rows, gRPC, ...). */
const PORT_MARGIN = 1000;

/**
 * The source addresses the N connections come from: none (the kernel's default, 127.0.0.1)
 * when the ephemeral range holds them, else 127.0.0.2, 127.0.0.3, ... (all of 127/8 is
 * loopback on Linux), each carrying at most `range - 1000` of them.
 */
export function sourceAddresses(n: number, portRange: number): string[] {
  const perAddress = Math.max(1, portRange - PORT_MARGIN);
  if (n <= perAddress) return [];
  const k = Math.ceil(n / perAddress);
  if (k > 253) throw new Error(`${n} connections need ${k} source addresses of ${perAddress} ports each; at most 253 (127.0.0.2-254)`);
  return Array.from({ length: k }, (_, i) => `127.0.0.${i + 2}`);
}

/** The soft "Max open files" of a process (/proc/<pid>/limits); undefined if unreadable or unlimited. */
export function fdLimit(pid: number | 'self'): number | undefined {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    const n = Number(m?.[1]);
    return Number.isFinite(n) ? n : undefined;
  } catch { return undefined; }
}

/** Load children and connections per child: each child needs its share plus some fds under the limit it inherits. */
export function planChildren(n: number, requested: number | undefined, limit: number | undefined): { children: number; perChild: number[] } {
  const cap = limit === undefined ? Infinity : limit - 200;
  if (cap <= 0) throw new Error(`this process's fd limit (ulimit -n) is ${limit}: too low to open any connections; raise it with \`ulimit -n\``);
  const children = Math.min(n, requested ?? Math.max(Math.ceil(n / 5000), Math.ceil(n / cap)));
  const perChild = Array.from({ length: children }, (_, i) => Math.floor(n / children) + (i < n % children ? 1 : 0));
  if (perChild[0]! > cap) {
    throw new Error(`--children ${children}: ${perChild[0]} connections per load process, but the fd limit they inherit (ulimit -n) is ${limit}; ` +
      `use --children ${Math.ceil(n / cap)} or more, or raise \`ulimit -n\``);
  }
  return { children, perChild };
}

interface Mem { rss: number; rssAnon: number; rssFile: number; fds: number }

/** VmRSS/RssAnon/RssFile (bytes) and open fds of a process. */
export function memOf(pid: number): Mem | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    let fds = NaN;
    try { fds = readdirSync(`/proc/${pid}/fd`).length; } catch { /* not ours */ }
    return { rss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile'), fds };
  } catch { return undefined; }
}

interface Heap { heapUsed: number; heapTotal: number; external: number }

/** The V8 heap figures a service exports on /metrics (prom-client default metrics). */
async function heapOf(httpPort: number): Promise<Heap | undefined> {
  try {
    const { status, body } = await httpGet(httpPort, '/metrics', 10_000);
    if (status !== 200) return undefined;
    const v = (name: string) => Number(new RegExp(`^\\w*${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body)?.[1] ?? NaN);
    return { heapUsed: v('nodejs_heap_size_used_bytes'), heapTotal: v('nodejs_heap_size_total_bytes'), external: v('nodejs_external_memory_bytes') };
  } catch { return undefined; }
}

// ---- the w64 row --------------------------------------------------------------------------

const W64 = ['--persistent', '--window', '64', '--producers', '1', '--consumers', '1'];

export interface BenchCell { msgPerSec: number; p50ReceiptMs: number; p99ReceiptMs: number; sent: number; lost: number; duplicates: number; exit: number; error?: string }


async function benchW64(uri: string, durationS: number, dest: string): Promise<BenchCell> {
  const r = await runCli(['bench', '--uri', uri, ...W64, '--duration', String(durationS), '--json', '--destination', dest], (durationS + 120) * 1000);
  try {
    const j = JSON.parse(r.stdout) as { sent: number; lost: number; duplicates: number; producer: { msgPerSec: number }; latencyMs: { sendToReceipt: { p50: number; p99: number } } };
    return { msgPerSec: j.producer.msgPerSec, p50ReceiptMs: j.latencyMs.sendToReceipt.p50, p99ReceiptMs: j.latencyMs.sendToReceipt.p99, sent: j.sent, lost: j.lost, duplicates: j.duplicates, exit: r.code };
  } catch {
    const error = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 300) || `exit ${r.code}`;
    return { msgPerSec: 0, p50ReceiptMs: NaN, p99ReceiptMs: NaN, sent: 0, lost: 0, duplicates: 0, exit: r.code, error };
  }
}

// ---- the load children --------------------------------------------------------------------

/** What the parent tells a load child (the first IPC message). */
interface LoadPlan { host: string; port: number; count: number; first: number; addresses: string[]; heartbeatMs: number; rate: number; maxPending: number; timeoutMs: number }
interface LoadProgress { type: 'progress' | 'done'; connected: number; failed: number; dropped: number; pending: number; bytesIn: number; reasons: Record<string, number>; serverHeartBeat?: string }

const CHILD_ENV = 'HAWSER_BENCH_CONNECTIONS_LOAD';

/** Body of a load child: opens plan.count STOMP connections, keeps them heart-beating until told to close. */
function loadChild(): void {
  const sockets: Socket[] = [];
  const st: LoadProgress = { type: 'progress', connected: 0, failed: 0, dropped: 0, pending: 0, bytesIn: 0, reasons: {} };
  let closing = false;
  const report = (type: LoadProgress['type'] = 'progress') => { if (process.connected) process.send!({ ...st, type }); };
  const fail = (reason: string) => { st.failed++; st.reasons[reason] = (st.reasons[reason] ?? 0) + 1; };
  process.on('disconnect', () => process.exit(0)); // the parent is gone: so are we
  process.once('message', (plan: LoadPlan) => {
    process.on('message', (m: { type?: string }) => {
      if (m.type !== 'close') return;
      closing = true;
      for (const s of sockets) s.destroy();
      report('done');
      setTimeout(() => process.exit(0), 100);
    });
    const tick = setInterval(() => report(), 500);
    const hello = Buffer.from(`CONNECT\naccept-version:1.2\nheart-beat:${plan.heartbeatMs},${plan.heartbeatMs}\nhost:/\n\n\0`);
    const eol = Buffer.from('\n');
    const open = (i: number) => {
      st.pending++;
      const localAddress = plan.addresses.length ? plan.addresses[(plan.first + i) % plan.addresses.length] : undefined;
      const s = connect({ host: plan.host, port: plan.port, ...(localAddress ? { localAddress } : {}) });
      let state: 'opening' | 'open' | 'over' = 'opening';
      let buf = Buffer.alloc(0);
      let hb: NodeJS.Timeout | undefined;
      const settle = (reason?: string) => {
        if (state !== 'opening') return;
        st.pending--;
        clearTimeout(timer);
        if (reason) { state = 'over'; fail(reason); s.destroy(); return; }
        state = 'open';
        st.connected++;
        sockets.push(s);
        if (plan.heartbeatMs > 0) hb = setInterval(() => s.write(eol), plan.heartbeatMs);
      };
      const timer = setTimeout(() => settle(`no CONNECTED within ${plan.timeoutMs} ms`), plan.timeoutMs);
      s.setNoDelay(true);
      s.on('connect', () => s.write(hello));
      s.on('data', (d: Buffer) => {
        if (state !== 'opening') { st.bytesIn += d.length; return; } // heart-beats: discarded
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf(0);
        if (end < 0) return;
        const text = buf.subarray(0, end).toString('utf8').replace(/^[\r\n]+/, '');
        const command = text.split('\n', 1)[0]!.trim();
        if (command === 'CONNECTED') {
          st.serverHeartBeat ??= /^heart-beat:(.*)$/m.exec(text)?.[1]?.trim();
          st.bytesIn += buf.length - end - 1;
          settle();
        } else {
          const message = /^message:(.*)$/m.exec(text)?.[1]?.trim();
          settle(`${command}${message ? `: ${message}` : ''}`);
        }
        buf = Buffer.alloc(0);
      });
      s.on('error', (e: NodeJS.ErrnoException) => settle(`socket error ${e.code ?? e.message}`));
      s.on('close', () => {
        clearInterval(hb);
        if (state === 'opening') settle('closed before CONNECTED');
        else if (state === 'open' && !closing) { st.dropped++; state = 'over'; }
      });
    };
    // At most plan.rate new connections a second and plan.maxPending awaiting CONNECTED.
    const t0 = Date.now();
    let started = 0;
    const pace = setInterval(() => {
      const due = Math.min(plan.count, Math.floor(((Date.now() - t0) / 1000) * plan.rate) + 1);
      while (started < due && st.pending < plan.maxPending) open(started++);
      if (started >= plan.count && st.pending === 0) {
        clearInterval(pace);
        clearInterval(tick);
        report('done');
        setInterval(() => report(), 1000); // still reports drops while held open
      }
    }, 5);
  });
}

interface LoadChild { proc: ChildProcess; last: LoadProgress; done: boolean; exited: Promise<number | null> }

function startChild(plan: LoadPlan): LoadChild {
  const proc = fork(__filename, [], { env: { ...process.env, [CHILD_ENV]: '1' }, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const c: LoadChild = {
    proc, done: false,
    last: { type: 'progress', connected: 0, failed: 0, dropped: 0, pending: plan.count, bytesIn: 0, reasons: {} },
    exited: new Promise((res) => proc.once('exit', (code) => res(code))),
  };
  proc.on('message', (m: LoadProgress) => { c.last = m; if (m.type === 'done') c.done = true; });
  proc.send(plan);
  return c;
}

/** Closes the children: asks them, then SIGKILLs each by PID after 5 s. */
async function stopChildren(children: LoadChild[]): Promise<void> {
  await Promise.all(children.map(async (c) => {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
    try { c.proc.send({ type: 'close' }); } catch { /* IPC gone */ }
    const t = setTimeout(() => { if (c.proc.pid) { try { process.kill(c.proc.pid, 'SIGKILL'); } catch { /* gone */ } } }, 5000);
    await c.exited;
    clearTimeout(t);
  }));
}

function sum(children: LoadChild[]): Omit<LoadProgress, 'type'> {
  const t: Omit<LoadProgress, 'type'> = { connected: 0, failed: 0, dropped: 0, pending: 0, bytesIn: 0, reasons: {} };
  for (const c of children) {
    t.connected += c.last.connected; t.failed += c.last.failed; t.dropped += c.last.dropped; t.pending += c.last.pending; t.bytesIn += c.last.bytesIn;
    for (const [k, v] of Object.entries(c.last.reasons)) t.reasons[k] = (t.reasons[k] ?? 0) + v;
    t.serverHeartBeat ??= c.last.serverHeartBeat;
  }
  return t;
}

// ---- the run ------------------------------------------------------------------------------

type Role = 'gateway' | 'store' | 'store+gateway';
interface Proc { role: Role; pid: number; httpPort: number; fdLimit?: number | undefined }
interface Sys { h: Harness; uri: string; port: number; procs: Proc[] }
type Cpu = { ms: number[]; percent: number[] };

export interface ProcMem {
  role: Role; pid: number; fdLimit: number | undefined;
  before: Mem & Partial<Heap>; after: Mem & Partial<Heap>; afterLoaded: Mem | undefined;
  /** CPU (% of one core) during the unloaded w64 run, the idle hold (N connections open, only heart-beats), the loaded w64 run. */
  cpuPercent: { unloaded: number; idle: number; loaded: number };
  /** CPU ms per message sent in the unloaded and loaded w64 runs. */
  cpuMsPerMessage: { unloaded: number; loaded: number };
  /** (after - before) / connected, bytes. */
  perConnection: { rss: number; rssAnon: number; heapUsed: number; external: number; fds: number };
}

export interface Round {
  unloaded: BenchCell; loaded: BenchCell; ratio: number;
  connected: number; failed: number; dropped: number; failures: Record<string, number>; connectSeconds: number;
  serverHeartBeat: string | undefined; bytesFromServer: number;
  /** Heart-beat EOLs the server sent per connection per second during the idle hold (1/interval). */
  serverEolPerConnPerS: number;
  /** CPU (% of one core) of all the load processes together during the idle hold and the loaded w64 run. */
  loadCpuPercent: { idle: number; loaded: number };
  processes: ProcMem[];
}

export interface Result {
  mode: Mode; baseline: Baseline; requested: number;
  /** Fewest connected in a round; failed and dropped summed over the rounds. */
  connected: number; failed: number; dropped: number; failures: Record<string, number>;
  heartbeatMs: number; serverHeartBeat: string | undefined; sourceAddresses: string[]; children: number; connectSeconds: number;
  bytesFromServer: number; serverEolPerConnPerS: number; loadCpuPercent: { idle: number; loaded: number };
  /** The median round's w64 runs (by msg/s) and the ratio of the two medians. */
  unloaded: BenchCell; loaded: BenchCell; ratio: number; meets80: boolean;
  /** Memory and CPU of the first round. */
  processes: ProcMem[];
  rounds: Round[];
  warnings: string[]; errors: string[];
  machine: { nproc: number; cpu: string; ramGiB: number; node: string; ephemeralPorts: number; fdLimit: number | undefined };
}

const IDLE_WINDOW_MS = 5000;
const TICK_MS = 10; // USER_HZ = 100 on Linux

/** Starts watching the CPU of some processes; the result gives each one's CPU ms and % of one core since. */
function cpuWatch(pids: number[]): () => Cpu {
  const t0 = Date.now();
  const a = pids.map((p) => sample(p)?.ticks ?? NaN);
  return () => {
    const dt = Date.now() - t0;
    const ms = pids.map((p, i) => ((sample(p)?.ticks ?? NaN) - a[i]!) * TICK_MS);
    return { ms, percent: ms.map((x) => (x * 100) / dt) };
  };
}

const say = (s: string) => process.stderr.write(`[connections] ${s}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const n0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');

/** A fresh standalone store with a separate or its embedded gateway, maximumConnections N + 100. */
async function startSystem(o: Options, warnings: string[], log: (s: string) => void): Promise<Sys> {
  const N = o.connections;
  const max = String(N + 100);
  const h = new Harness(`connections-${o.mode}`);
  try {
    let uri: string;
    let procs: Proc[];
    if (o.mode === 'separate') {
      const { store, gateway } = await h.startBroker({ gateway: { args: ['--limits.maximumConnections', max] } });
      uri = gateway.stompUri;
      procs = [{ role: 'gateway', pid: gateway.pid!, httpPort: gateway.httpPort }, { role: 'store', pid: store.pid!, httpPort: store.httpPort }];
    } else {
      const store = await h.startStore({ args: ['--gateway.enabled', 'true', '--gateway.auth.anonymous', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0', '--gateway.limits.maximumConnections', max] });
      uri = store.stompUri;
      procs = [{ role: 'store+gateway', pid: store.pid!, httpPort: store.httpPort }];
    }
    // The services inherit our fd limit; the process holding the client sockets needs N + its own.
    for (const p of procs) p.fdLimit = fdLimit(p.pid);
    for (const p of procs.filter((x) => x.role !== 'store')) {
      const lim = p.fdLimit;
      const w = lim !== undefined && lim < N + 1000
        ? `the ${p.role} process has an fd limit of ${lim} (inherited ulimit -n), below N + 1000 = ${N + 1000}: it cannot hold much more than ` +
          `${lim - (memOf(p.pid)?.fds ?? 0)} connections; raise the hard limit (ulimit -Hn) before running`
        : undefined;
      if (w && !warnings.includes(w)) { warnings.push(w); log(`warning: ${w}`); }
    }
    log(`${o.mode}: ${uri}; ${procs.map((p) => `${p.role} pid ${p.pid}`).join(', ')}`);
    return { h, uri, port: Number(new URL(uri.replace(/^stomp:/, 'http:')).port), procs };
  } catch (e) {
    await h.close().catch(() => undefined);
    throw e;
  }
}

async function warmup(sys: Sys, o: Options, tag: string, log: (s: string) => void): Promise<void> {
  if (!(o.warmup > 0)) return;
  log(`warming up: w64 for ${o.warmup} s`);
  const w = await benchW64(sys.uri, o.warmup, `/queue/conn-bench-${tag}-warmup`);
  if (w.error) log(`warmup failed: ${w.error}`);
}

/** The w64 row with the services' CPU watched. */
async function measured(sys: Sys, o: Options, dest: string, what: string, log: (s: string) => void, errors: string[]): Promise<{ cell: BenchCell; cpu: Cpu }> {
  log(`${what}: w64 for ${o.duration} s`);
  const w = cpuWatch(sys.procs.map((p) => p.pid));
  const cell = await benchW64(sys.uri, o.duration, dest);
  const cpu = w();
  log(`${what}: ${n0(cell.msgPerSec)} msg/s${cell.error ? ` (failed: ${cell.error})` : ''}`);
  if (cell.error || !(cell.msgPerSec > 0)) errors.push(`${what} w64 bench failed: ${cell.error ?? 'no messages'}`);
  if (cell.lost || cell.duplicates) errors.push(`${what} w64 run lost ${cell.lost} / duplicated ${cell.duplicates} messages`);
  return { cell, cpu };
}

type Loaded = Omit<Round, 'unloaded' | 'ratio' | 'processes'> & { loadedCpu: Cpu; idleCpu: Cpu; procs: Proc[]; before: ProcMem['before'][]; after: ProcMem['after'][]; afterLoaded: Array<Mem | undefined> };

/** Opens the N connections on `sys`, measures memory and the idle hold, runs the loaded w64 row; closes the children. */
async function holdAndMeasure(sys: Sys, o: Options, plan: { children: number; perChild: number[] }, addresses: string[], tag: string, log: (s: string) => void, errors: string[]): Promise<Loaded> {
  const N = o.connections;
  const { procs } = sys;
  const children: LoadChild[] = [];
  try {
    const before = await Promise.all(procs.map(async (p) => ({ ...memOf(p.pid)!, ...(await heapOf(p.httpPort)) })));
    const perSecond = o.rate / plan.children;
    const maxPending = Math.max(8, Math.ceil(256 / plan.children));
    let first = 0;
    for (const count of plan.perChild) {
      children.push(startChild({ host: '127.0.0.1', port: sys.port, count, first, addresses, heartbeatMs: o.heartbeat, rate: perSecond, maxPending, timeoutMs: 30_000 }));
      first += count;
    }
    log(`opening ${n0(N)} connections from ${plan.children} load process(es) (pids ${children.map((c) => c.proc.pid).join(', ')}) at <= ${n0(o.rate)}/s, heart-beat ${o.heartbeat} ms`);
    const t0 = Date.now();
    const deadline = t0 + ((N / o.rate) * 3 + 60) * 1000;
    let lastSay = t0;
    while (!children.every((c) => c.done)) {
      if (children.some((c) => c.proc.exitCode !== null || c.proc.signalCode !== null)) { errors.push('a load process exited while connecting'); break; }
      if (Date.now() > deadline) { errors.push(`connecting took longer than ${Math.round((deadline - t0) / 1000)} s`); break; }
      await sleep(100);
      if (Date.now() - lastSay >= 2000) {
        lastSay = Date.now();
        const s = sum(children);
        log(`${n0(s.connected)} / ${n0(N)} connected, ${n0(s.failed)} failed, ${n0(s.pending)} pending`);
      }
    }
    const connectSeconds = (Date.now() - t0) / 1000;
    let s = sum(children);
    log(`${n0(s.connected)} connected, ${n0(s.failed)} failed in ${connectSeconds.toFixed(1)} s${s.failed ? ` (${Object.entries(s.reasons).map(([k, v]) => `${v} x ${k}`).join('; ')})` : ''}`);

    // Let the last connections' allocations settle, then watch the idle hold: CPU of each
    // service and of the load processes while only heart-beats flow.
    await sleep(2000);
    const pids = [...procs.map((p) => p.pid), ...children.map((c) => c.proc.pid!)];
    const t0Idle = Date.now();
    const wI = cpuWatch(pids);
    const bytes0 = sum(children).bytesIn;
    await sleep(IDLE_WINDOW_MS);
    const idleCpu = wI();
    const idleS = (Date.now() - t0Idle) / 1000;
    const after = await Promise.all(procs.map(async (p) => ({ ...memOf(p.pid)!, ...(await heapOf(p.httpPort)) })));
    // Heart-beat EOLs the server sent during the window (1 byte each; nothing else flows).
    s = sum(children);
    const held = s.connected - s.dropped;
    const serverEolPerConnPerS = held > 0 ? (s.bytesIn - bytes0) / held / idleS : NaN;

    const wL = cpuWatch(children.map((c) => c.proc.pid!));
    const loaded = await measured(sys, o, `/queue/conn-bench-${tag}-loaded`, `loaded (${n0(held)} idle connections open)`, log, errors);
    const loadChildrenCpu = wL();
    const afterLoaded = procs.map((p) => memOf(p.pid));
    s = sum(children);
    if (s.failed) errors.push(`${s.failed} of ${N} connections failed: ${Object.entries(s.reasons).map(([k, v]) => `${v} x ${k}`).join('; ')}`);
    if (s.dropped) errors.push(`${s.dropped} connections were closed by the server while held open`);
    const loadSum = (x: number[]) => x.reduce((a, b) => a + b, 0);
    return {
      loaded: loaded.cell, loadedCpu: loaded.cpu, idleCpu, procs, before, after, afterLoaded,
      connected: s.connected, failed: s.failed, dropped: s.dropped, failures: s.reasons, connectSeconds,
      serverHeartBeat: s.serverHeartBeat, bytesFromServer: s.bytesIn, serverEolPerConnPerS,
      loadCpuPercent: { idle: loadSum(idleCpu.percent.slice(procs.length)), loaded: loadSum(loadChildrenCpu.percent) },
    };
  } finally {
    await stopChildren(children);
  }
}

function roundOf(u: { cell: BenchCell; cpu: Cpu; procs: Proc[] }, l: Loaded): Round {
  const per = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && l.connected > 0 ? (a - b) / l.connected : NaN);
  const processes: ProcMem[] = l.procs.map((p, i) => {
    const j = u.procs.findIndex((x) => x.role === p.role); // the unloaded run may have been on another system
    const b = l.before[i]!;
    const a = l.after[i]!;
    return {
      role: p.role, pid: p.pid, fdLimit: p.fdLimit, before: b, after: a, afterLoaded: l.afterLoaded[i],
      cpuPercent: { unloaded: u.cpu.percent[j] ?? NaN, idle: l.idleCpu.percent[i]!, loaded: l.loadedCpu.percent[i]! },
      cpuMsPerMessage: { unloaded: (u.cpu.ms[j] ?? NaN) / (u.cell.sent || NaN), loaded: l.loadedCpu.ms[i]! / (l.loaded.sent || NaN) },
      perConnection: { rss: per(a.rss, b.rss), rssAnon: per(a.rssAnon, b.rssAnon), heapUsed: per(a.heapUsed, b.heapUsed), external: per(a.external, b.external), fds: per(a.fds, b.fds) },
    };
  });
  const { loadedCpu: _1, idleCpu: _2, procs: _3, before: _4, after: _5, afterLoaded: _6, ...rest } = l;
  return { ...rest, unloaded: u.cell, ratio: u.cell.msgPerSec > 0 ? l.loaded.msgPerSec / u.cell.msgPerSec : NaN, processes };
}

/** The cell with the median msg/s (the lower one of the middle two for an even count). */
export function medianCell<T extends { msgPerSec: number }>(cells: T[]): T {
  const sorted = [...cells].sort((a, b) => a.msgPerSec - b.msgPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/**
 * The measurement. `baseline: 'fresh'` (default): each round measures the unloaded rate on one
 * fresh system and the loaded rate on another, both after the same warmup, in alternating
 * order - consecutive w64 runs on one store slow down by themselves, which would otherwise
 * count against the connections. `baseline: 'same'`: unloaded, then the connections, then
 * loaded, on one system. Always stops what it started; throws only when a system does not start.
 */
export async function run(o: Options, log: (s: string) => void = say): Promise<Result> {
  const N = o.connections;
  const portRange = ephemeralPorts();
  const addresses = sourceAddresses(N, portRange);
  const myLimit = fdLimit('self');
  const plan = planChildren(N, o.children, myLimit);
  const warnings: string[] = [];
  const errors: string[] = [];
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version, ephemeralPorts: portRange, fdLimit: myLimit };
  if (addresses.length) log(`ephemeral port range holds ${portRange} ports: the connections come from ${addresses.join(', ')}`);

  const rounds: Round[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const tag = `${Date.now().toString(36)}-${r}`;
    const errs: string[] = [];
    let u: { cell: BenchCell; cpu: Cpu; procs: Proc[] } | undefined;
    let l: Loaded | undefined;
    const unloadedOnFresh = async () => {
      const sys = await startSystem(o, warnings, log);
      try {
        await warmup(sys, o, tag, log);
        u = { ...(await measured(sys, o, `/queue/conn-bench-${tag}-unloaded`, 'unloaded', log, errs)), procs: sys.procs };
      } finally { await sys.h.close().catch((e: Error) => log(`stopping the services: ${e.message}`)); }
    };
    const loadedOnFresh = async () => {
      const sys = await startSystem(o, warnings, log);
      try {
        await warmup(sys, o, tag, log);
        if (o.baseline === 'same') u = { ...(await measured(sys, o, `/queue/conn-bench-${tag}-unloaded`, 'unloaded', log, errs)), procs: sys.procs };
        l = await holdAndMeasure(sys, o, plan, addresses, tag, log, errs);
      } finally { await sys.h.close().catch((e: Error) => log(`stopping the services: ${e.message}`)); }
    };
    if (o.rounds > 1) log(`round ${r + 1} of ${o.rounds}`);
    if (o.baseline === 'same') await loadedOnFresh();
    else if (r % 2 === 0) { await unloadedOnFresh(); await loadedOnFresh(); } else { await loadedOnFresh(); await unloadedOnFresh(); }
    errors.push(...errs.map((e) => (o.rounds > 1 ? `round ${r + 1}: ${e}` : e)));
    const round = roundOf(u!, l!);
    rounds.push(round);
    if (o.rounds > 1) log(`round ${r + 1}: ${n0(round.unloaded.msgPerSec)} -> ${n0(round.loaded.msgPerSec)} msg/s (${round.ratio.toFixed(2)})`);
  }
  const first = rounds[0]!;
  const unloaded = medianCell(rounds.map((x) => x.unloaded));
  const loaded = medianCell(rounds.map((x) => x.loaded));
  const ratio = unloaded.msgPerSec > 0 ? loaded.msgPerSec / unloaded.msgPerSec : NaN;
  const failures: Record<string, number> = {};
  for (const x of rounds) for (const [k, v] of Object.entries(x.failures)) failures[k] = (failures[k] ?? 0) + v;
  return {
    mode: o.mode, baseline: o.baseline, requested: N,
    connected: Math.min(...rounds.map((x) => x.connected)), failed: rounds.reduce((a, x) => a + x.failed, 0), dropped: rounds.reduce((a, x) => a + x.dropped, 0), failures,
    heartbeatMs: o.heartbeat, serverHeartBeat: first.serverHeartBeat, sourceAddresses: addresses, children: plan.children, connectSeconds: first.connectSeconds,
    bytesFromServer: first.bytesFromServer, serverEolPerConnPerS: first.serverEolPerConnPerS, loadCpuPercent: first.loadCpuPercent,
    unloaded, loaded, ratio, meets80: ratio >= 0.8, processes: first.processes, rounds, warnings, errors, machine,
  };
}

// ---- output -------------------------------------------------------------------------------

const ms3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
const pct1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const mib = (b: number) => (Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(1)} MiB` : '-');

export function table(r: Result): string {
  const ratio = Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)} (${r.meets80 ? '>=' : '<'} 0.80)` : '-';
  const gw = r.processes.find((p) => p.role !== 'store') ?? r.processes[0]!;
  const store = r.processes.find((p) => p.role !== 'gateway') ?? r.processes[0]!;
  const memCell = (p: ProcMem) => `${mib(p.before.rss)} -> ${mib(p.after.rss)} (${n0(p.perConnection.rss)})`;
  const lines = [
    '| mode | N connected | failed | heartbeat ms | unloaded w64 msg/s | loaded w64 msg/s | loaded / unloaded | gateway RSS before -> after (B per conn) | store RSS before -> after (B per conn) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${r.mode} (${r.baseline} baseline${r.rounds.length > 1 ? `, ${r.rounds.length} rounds` : ''}) | ${n0(r.connected)} of ${n0(r.requested)} | ${n0(r.failed)}${r.dropped ? ` (+${n0(r.dropped)} dropped)` : ''} | ${r.heartbeatMs} | ${n0(r.unloaded.msgPerSec)} | ${n0(r.loaded.msgPerSec)} | ${ratio} | ${memCell(gw)}${gw === store ? ' (one process)' : ''} | ${memCell(store)} |`,
    '',
    '| process | pid | fd limit | fds before -> after | RSS per conn (anon) B | V8 heap used per conn B | external per conn B | RSS after the loaded run | CPU % unloaded / idle hold / loaded | CPU ms per msg unloaded / loaded |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const p of r.processes) {
    lines.push(`| ${p.role} | ${p.pid} | ${p.fdLimit ?? '-'} | ${n0(p.before.fds)} -> ${n0(p.after.fds)} | ${n0(p.perConnection.rss)} (${n0(p.perConnection.rssAnon)}) | ${n0(p.perConnection.heapUsed)} | ${n0(p.perConnection.external)} | ${mib(p.afterLoaded?.rss ?? NaN)} | ${pct1(p.cpuPercent.unloaded)} / ${pct1(p.cpuPercent.idle)} / ${pct1(p.cpuPercent.loaded)} | ${ms3(p.cpuMsPerMessage.unloaded)} / ${ms3(p.cpuMsPerMessage.loaded)} |`);
  }
  if (r.rounds.length > 1) {
    lines.push('', `rounds (unloaded -> loaded msg/s): ${r.rounds.map((x) => `${n0(x.unloaded.msgPerSec)} -> ${n0(x.loaded.msgPerSec)} (${Number.isFinite(x.ratio) ? x.ratio.toFixed(2) : '-'})`).join(', ')}; the first row shows the medians`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseArgs(argv); } catch (e) { return usageExit(e); }
  let r: Result;
  try { r = await run(o); } catch (e) {
    say(`failed: ${(e as Error).message}`);
    return 1;
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ settings: o, ...r }, null, 2)}\n`);
  else {
    const m = r.machine;
    process.stdout.write(`${table(r)}\n\nw64 = 1 producer + 1 consumer, window 64, 1 KiB persistent, ${o.duration} s after a ${o.warmup} s warmup, ` +
      `${r.baseline === 'fresh' ? 'unloaded and loaded each on a fresh system' : 'unloaded then loaded on one system'}; ${n0(r.connected)} idle STOMP 1.2 connections ` +
      `(heart-beat:${r.heartbeatMs},${r.heartbeatMs}; server answered ${r.serverHeartBeat ?? '-'}) from ${r.children} load process(es)` +
      `${r.sourceAddresses.length ? ` via ${r.sourceAddresses.join(', ')}` : ''}, opened in ${r.connectSeconds.toFixed(1)} s; ` +
      `while idle-holding them the server sent a heart-beat every ${Number.isFinite(r.serverEolPerConnPerS) && r.serverEolPerConnPerS > 0 ? (1 / r.serverEolPerConnPerS).toFixed(1) : '-'} s per connection ` +
      `and the load processes used ${pct1(r.loadCpuPercent.idle)}% of a core (${pct1(r.loadCpuPercent.loaded)}% during the loaded run). ` +
      `machine: ${m.nproc} x ${m.cpu}, ${m.ramGiB} GiB, node ${m.node}\n`);
    for (const w of r.warnings) process.stdout.write(`warning: ${w}\n`);
  }
  for (const e of r.errors) say(`error: ${e}`);
  return r.errors.length ? 1 : 0;
}

if (require.main === module) {
  if (process.env[CHILD_ENV] === '1' && process.send) loadChild();
  else main(process.argv.slice(2)).then((code) => process.exit(code), (e: Error) => { process.stderr.write(`${e.stack ?? e.message}\n`); process.exit(1); });
}
