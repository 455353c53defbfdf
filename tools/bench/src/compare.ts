#!/usr/bin/env node
// Throughput side by side: Hawser (standalone; a replicated group of 3 with sync=quorum_mem
// and with quorum_disk; the client on a separate gateway or on a store node's embedded one)
// and Apache ActiveMQ Classic (KahaDB, STOMP), in ONE run, with the
// same `hawser bench` rows, so the table's Hawser/ActiveMQ ratios compare like with like on
// the same machine at the same time.
//
// Each system runs alone (started, measured, stopped) so they never share the CPU with each
// other. ActiveMQ is warmed up first (its JIT makes it ~2x slower in the first minute).
// Each row is `node tools/cli/dist/main.js bench --json ...` in its own process (as a user
// would run it), for --duration seconds, on a fresh queue per row.
//
//   node tools/bench/dist/compare.js [--duration 15] [--warmup 30] [--json]
//        [--systems activemq,standalone,embedded,quorum_mem,quorum_mem_master,...] [--rows rpm,w64,p4c4,np64,half]
import { spawn } from 'node:child_process';
import { cpus, totalmem, tmpdir } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from '@hawser/integration/dist/cluster';
import { Harness, freePort, ROOT } from '@hawser/integration/dist/harness';
import { SecureMaterial } from '@hawser/integration/dist/secure';
import { hashPassword } from '@hawser/security';
import { eachOption, numberOption, usageExit, UsageError } from './args';
import { benchNats, startNatsCluster, type NatsRow } from './nats';
import type { Cell } from './stats';

export interface Row { key: string; title: string; args: string[] }

/** The rows of issue 5's "Benchmarks": 1 KiB bodies, client-individual acks. */
export const ROWS: Row[] = [
  { key: 'rpm', title: '1 producer, receipt per message (persistent)', args: ['--producers', '1', '--consumers', '1', '--window', '1', '--persistent'] },
  { key: 'w64', title: '1 producer, window 64 (persistent)', args: ['--producers', '1', '--consumers', '1', '--window', '64', '--persistent'] },
  { key: 'p4c4', title: '4 producers + 4 consumers, receipt per message (persistent)', args: ['--producers', '4', '--consumers', '4', '--window', '1', '--persistent'] },
  { key: 'np64', title: '1 producer, window 64 (non-persistent)', args: ['--producers', '1', '--consumers', '1', '--window', '64'] },
  // Latency under load: the w64 row again, paced (--rate) at half of the rate this system
  // reached on it; the p99 is the figure that matters here.
  { key: 'half', title: '1 producer, window 64 at half its peak rate (persistent)', args: ['--producers', '1', '--consumers', '1', '--window', '64', '--persistent'] },
];

// Hawser in both homes of the gateway: `standalone`, `quorum_*` put the client on a separate
// gateway process (home 1); `embedded` and `*_master` / `*_slave` put it on a store node's
// embedded gateway (home 2): in-process on the master, over gRPC to the master from a slave.
export const SYSTEMS = [
  'activemq', 'nats_r3', 'standalone', 'embedded', 'quorum_mem', 'quorum_mem_master', 'quorum_mem_slave', 'quorum_disk', 'quorum_disk_master',
  'standalone_secure', 'embedded_secure', 'quorum_mem_secure',
] as const;
export type System = typeof SYSTEMS[number];
const LABEL: Record<System, string> = {
  activemq: 'ActiveMQ 5.17 (KahaDB)',
  nats_r3: 'NATS JetStream R3 (3 nats-server)',
  standalone: 'Hawser standalone, separate gateway',
  embedded: 'Hawser standalone, embedded gateway',
  quorum_mem: 'Hawser group of 3, quorum_mem, separate gateway',
  quorum_mem_master: 'Hawser group of 3, quorum_mem, client on the master node',
  quorum_mem_slave: 'Hawser group of 3, quorum_mem, client on a slave node',
  quorum_disk: 'Hawser group of 3, quorum_disk, separate gateway',
  quorum_disk_master: 'Hawser group of 3, quorum_disk, client on the master node',
  // The security of issue 10 on: the client over TLS (stomp+ssl) with a login checked against a
  // users file, every SEND/SUBSCRIBE checked against an authorization map, gRPC on mutual TLS.
  standalone_secure: 'Hawser standalone, separate gateway, secure (client TLS + login + ACL, mTLS)',
  embedded_secure: 'Hawser standalone, embedded gateway, secure (client TLS + login + ACL)',
  quorum_mem_secure: 'Hawser group of 3, quorum_mem, separate gateway, secure (client TLS + login + ACL, mTLS, ZooKeeper ACLs)',
};

/** The flags that turn a store's embedded gateway on (ports picked by the harness). */
const EMBEDDED = ['--gateway.enabled', 'true', '--gateway.auth.anonymous', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0'];

interface Options { duration: number; warmup: number; rowWarmup: number; json: boolean; systems: System[]; rows: Row[] }

const USAGE = `usage: hawser-bench-compare [--duration S=15] [--warmup S=30] [--row-warmup S=2] [--json]
       [--systems ${SYSTEMS.join(',')}] [--rows ${ROWS.map((r) => r.key).join(',')}]`;

export function parseArgs(argv: string[]): Options {
  const o: Options = { duration: 15, warmup: 30, rowWarmup: 2, json: false, systems: [...SYSTEMS], rows: ROWS };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (name === 'duration' || name === 'warmup') {
      o[name] = numberOption(a, v, { zero: true, what: 'a number of seconds' });
    } else if (name === 'row-warmup') {
      o.rowWarmup = numberOption(a, v, { zero: true, what: 'a number of seconds' });
    } else if (name === 'systems') {
      const s = v.split(',').filter(Boolean);
      const bad = s.find((x) => !(SYSTEMS as readonly string[]).includes(x));
      if (bad) throw new UsageError(`--systems: unknown '${bad}' (known: ${SYSTEMS.join(', ')})`);
      o.systems = s as System[];
    } else if (name === 'rows') {
      const keys = v.split(',').filter(Boolean);
      const bad = keys.find((k) => !ROWS.some((r) => r.key === k));
      if (bad) throw new UsageError(`--rows: unknown '${bad}' (known: ${ROWS.map((r) => r.key).join(', ')})`);
      o.rows = ROWS.filter((r) => keys.includes(r.key));
    } else {
      throw new UsageError(`unknown option ${a}\n${USAGE}`);
    }
  }).json;
  return o;
}

export type { Cell } from './stats';

const CLI = join(ROOT, 'tools/cli/dist/main.js');
const say = (s: string) => process.stderr.write(`[compare] ${s}\n`);

/** `hawser <args>` as a child process (as a user would run it), killed after `timeoutMs`. */
export function runCli(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => { clearTimeout(t); res({ code: code ?? 1, stdout, stderr }); });
  });
}

interface BenchJson {
  sent: number; lost: number; duplicates: number; failedSends: number;
  producer: { msgPerSec: number };
  latencyMs: { sendToReceipt: { p50: number; p99: number } };
}

async function bench(uri: string, row: Row, durationS: number, warmupS: number, tag: string, login: string[] = []): Promise<Cell> {
  const args = ['bench', '--uri', uri, '--duration', String(durationS), '--warmup', String(warmupS), '--json', '--destination', `/queue/compare.${row.key}.${tag}`, ...login, ...row.args];
  const r = await runCli(args, (warmupS + durationS + 120) * 1000);
  try {
    const j = JSON.parse(r.stdout) as BenchJson;
    return {
      msgPerSec: j.producer.msgPerSec, p99ReceiptMs: j.latencyMs.sendToReceipt.p99, p50ReceiptMs: j.latencyMs.sendToReceipt.p50,
      sent: j.sent, lost: j.lost, duplicates: j.duplicates, failedSends: j.failedSends, exit: r.code,
    };
  } catch {
    const error = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 300) || `exit ${r.code}`;
    return { msgPerSec: 0, p99ReceiptMs: NaN, p50ReceiptMs: NaN, sent: 0, lost: 0, duplicates: 0, failedSends: 0, exit: r.code, error };
  }
}

/** A row a system cannot run (JetStream has no non-persistent publish): shown as —, not a failure. */
const NOT_APPLICABLE = 'not applicable';

/**
 * A running system: how to measure one row on it (`warmupS` of load first, unmeasured: each
 * `hawser bench` row is a fresh process on cold JIT), and how to stop it.
 */
interface Running { run(row: Row, durationS: number, warmupS: number, tag: string): Promise<Cell>; stop(): Promise<void> }

/** The `hawser bench` flags of a row as the NATS driver's shape. */
export function natsRow(row: Row): NatsRow {
  const num = (flag: string, def: number) => { const i = row.args.indexOf(flag); return i >= 0 ? Number(row.args[i + 1]) : def; };
  const rate = num('--rate', 0);
  return {
    key: row.key, producers: num('--producers', 1), consumers: num('--consumers', 1), window: num('--window', 1),
    persistent: row.args.includes('--persistent'), ...(rate > 0 ? { rate } : {}),
  };
}

async function startSystem(s: System): Promise<Running> {
  if (s === 'nats_r3') {
    // JetStream R3: publish awaiting its ack = receipt per message; a work-queue stream with
    // explicit acks for the consumers (tools/bench/src/nats.ts).
    const cluster = await startNatsCluster({ replicas: 3 });
    return { run: (row, d, w) => benchNats(cluster.urls, natsRow(row), d, 3, w), stop: () => cluster.stop() };
  }
  if (s.endsWith('_secure')) {
    const sys = await startSecure(s as SecureSystem);
    return { run: (row, d, w, tag) => bench(sys.uri, row, d, w, tag, sys.login), stop: sys.stop };
  }
  const sys = await startStomp(s as PlainSystem);
  return { run: (row, d, w, tag) => bench(sys.uri, row, d, w, tag), stop: sys.stop };
}

export type SecureSystem = Extract<System, `${string}_secure`>;
export type PlainSystem = Exclude<System, 'nats_r3' | SecureSystem>;

/**
 * A secure system: a users file (scrypt, the default cost), an authorization map granting the
 * bench user's group every queue, TLS listeners for clients (certificates from the harness's
 * SecureMaterial, made with openssl), mutual TLS between the services. The client logs in
 * over ssl:// trusting the cluster's CA.
 */
export async function startSecure(s: SecureSystem): Promise<StartedSystem & { login: string[] }> {
  const password = 'bench-password';
  const auth = async (root: string) => {
    const users = join(root, 'users.properties');
    const groups = join(root, 'groups.properties');
    const acl = join(root, 'authorization');
    writeFileSync(users, `bench=${await hashPassword(password)}\n`);
    writeFileSync(groups, 'benchers=bench\n');
    writeFileSync(acl, 'queue > benchers benchers benchers\ntopic > benchers benchers benchers\n');
    return { users, groups, acl };
  };
  const login = ['--login', 'bench', '--passcode', password];
  const clientAuth = (f: { users: string; groups: string }, prefix: string) => [`--${prefix}auth.anonymous`, 'false', `--${prefix}auth.usersFile`, f.users, `--${prefix}auth.groupsFile`, f.groups];
  const ssl = (cert: { cert: string; key: string }, prefix: string) => [`--${prefix}ssl.cert`, cert.cert, `--${prefix}ssl.key`, cert.key, `--${prefix}ssl.port`, '0', `--${prefix}wss.port`, '0'];
  if (s === 'quorum_mem_secure') {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-compare-auth-'));
    const f = await auth(dir);
    let c: Cluster | undefined;
    try {
      c = await Cluster.start({ name: `compare-${s}`, sync: 'quorum_mem', stores: 3, coordinators: 1, gateways: 0, maxWaitMs: 60_000, secure: true, storeArgs: ['--authorization.file', f.acl] });
      const gw = await c.startGateway('bench-gw', [...clientAuth(f, ''), ...ssl(c.secure!.files('gateway', 'bench-gw'), '')]);
      await c.waitForMaster();
      const cluster = c;
      return { uri: `ssl://127.0.0.1:${gw.field('sslPort')}?ca=${c.secure!.ca}`, login, procs: () => cluster.h.processes, stop: async () => { await cluster.close(); rmSync(dir, { recursive: true, force: true }); } };
    } catch (e) { await c?.close(); rmSync(dir, { recursive: true, force: true }); throw e; }
  }
  const h = new Harness(`compare-${s}`);
  try {
    const sec = new SecureMaterial(h.root);
    const f = await auth(h.root);
    if (s === 'embedded_secure') {
      const store = await h.startStore({ id: 'bench-store', args: ['--authorization.file', f.acl, ...EMBEDDED, ...clientAuth(f, 'gateway.'), ...ssl(sec.files('store', 'bench-store'), 'gateway.')] });
      return { uri: `ssl://127.0.0.1:${store.field('sslPort')}?ca=${sec.ca}`, login, procs: () => h.processes, stop: () => h.close() };
    }
    const store = await h.startStore({ id: 'bench-store', args: ['--authorization.file', f.acl, ...sec.args('store', 'bench-store', false)] });
    const gateway = await h.startGateway(store, { id: 'bench-gw', args: [...sec.args('gateway', 'bench-gw', false), ...clientAuth(f, ''), ...ssl(sec.files('gateway', 'bench-gw'), '')] });
    return { uri: `ssl://127.0.0.1:${gateway.field('sslPort')}?ca=${sec.ca}`, login, procs: () => h.processes, stop: () => h.close() };
  } catch (e) { await h.close(); throw e; }
}

/** Starts one STOMP system; returns its URI and how to stop it. */
/** A started system: where clients connect, its processes (for CPU per message), how to stop it. */
export interface StartedSystem { uri: string; procs: () => Array<{ name: string; pid: number }>; stop: () => Promise<void> }

export async function startStomp(s: PlainSystem): Promise<StartedSystem> {
  if (s === 'activemq') {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-compare-amq-'));
    const port = await freePort();
    const r = await runCli(['activemq', 'start', '--dir', dir, '--stomp-port', String(port)], 150_000);
    if (r.code !== 0) { rmSync(dir, { recursive: true, force: true }); throw new Error(`activemq start failed: ${r.stderr.trim()}`); }
    say(r.stdout.trim());
    return {
      uri: `stomp://127.0.0.1:${port}`,
      procs: () => [], // ActiveMQ's JVM is not ours to read
      stop: async () => {
        const st = await runCli(['activemq', 'stop', '--dir', dir], 120_000);
        if (st.code !== 0) say(`activemq stop: ${st.stderr.trim()}`);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (s === 'standalone' || s === 'embedded') {
    const h = new Harness(`compare-${s}`);
    try {
      if (s === 'embedded') {
        const store = await h.startStore({ args: EMBEDDED });
        return { uri: store.stompUri, procs: () => h.processes, stop: () => h.close() };
      }
      const { gateway } = await h.startBroker();
      return { uri: gateway.stompUri, procs: () => h.processes, stop: () => h.close() };
    } catch (e) { await h.close(); throw e; }
  }
  // Replicated: 3 stores, 1 coordinator (the 2nd only adds a process to the 2 cores), and
  // either 1 separate gateway or the stores' embedded ones (no separate gateway process).
  const sync = s.startsWith('quorum_disk') ? 'quorum_disk' : 'quorum_mem';
  const embedded = s.endsWith('_master') || s.endsWith('_slave');
  const c = await Cluster.start({
    name: `compare-${s}`, sync, stores: 3, coordinators: 1, gateways: embedded ? 0 : 1, maxWaitMs: 60_000, embeddedGateways: embedded,
  });
  if (!embedded) return { uri: c.gateway.stompUri, procs: () => c.h.processes, stop: () => c.close() };
  const { store: master } = await c.waitForMaster();
  const node = s.endsWith('_master') ? master : c.stores.find((x) => x !== master)!;
  return { uri: node.stompUri, procs: () => c.h.processes, stop: () => c.close() };
}

const fmtN = (n: number) => (Number.isFinite(n) && n > 0 ? Math.round(n).toLocaleString('en-US') : '-');
const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : String(Math.round(n))) : '-');

export function table(systems: System[], rows: Row[], cells: Map<string, Cell>): string {
  const hawser = systems.filter((s) => s !== 'activemq');
  const amq = systems.includes('activemq');
  const head = ['row', ...systems.map((s) => `${LABEL[s]}: msg/s (p99 ms)`), ...(amq ? hawser.map((s) => `${LABEL[s].replace('Hawser ', '')} / ActiveMQ`) : [])];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    const cell = (s: System) => cells.get(`${s}/${r.key}`);
    const vals = systems.map((s) => {
      const c = cell(s);
      if (!c) return '-';
      if (c.error === NOT_APPLICABLE) return '—';
      if (c.error) return `failed: ${c.error.slice(0, 60)}`;
      const warn = c.lost || c.duplicates || c.failedSends ? ` ⚠ lost ${c.lost} dup ${c.duplicates} failed ${c.failedSends}` : '';
      return `${fmtN(c.msgPerSec)} (${fmtMs(c.p99ReceiptMs)})${warn}`;
    });
    const ratios = amq ? hawser.map((s) => {
      const a = cell('activemq');
      const h = cell(s);
      return a && h && a.msgPerSec > 0 && h.msgPerSec > 0 ? `**${(h.msgPerSec / a.msgPerSec).toFixed(2)}x**` : '-';
    }) : [];
    lines.push(`| ${[r.title, ...vals, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseArgs(argv); } catch (e) { return usageExit(e); }
  const cells = new Map<string, Cell>();
  const tag = Date.now().toString(36);
  let failed = false;
  // Ctrl-C / SIGTERM mid-run: stop the system being measured (its processes and temp dir) first.
  let current: Running | undefined;
  const interrupted = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping the system under test`);
    void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  for (const s of o.systems) {
    say(`starting ${LABEL[s]}`);
    let sys: Running;
    try { sys = await startSystem(s); current = sys; } catch (e) {
      failed = true;
      say(`${s}: ${(e as Error).message}`);
      for (const r of o.rows) cells.set(`${s}/${r.key}`, { msgPerSec: 0, p99ReceiptMs: NaN, p50ReceiptMs: NaN, sent: 0, lost: 0, duplicates: 0, failedSends: 0, exit: 1, error: 'did not start' });
      continue;
    }
    try {
      if (s === 'activemq' && o.warmup > 0) {
        say(`warming ActiveMQ up for ${o.warmup} s`);
        const w = await sys.run({ key: 'warmup', title: 'warmup', args: ['--producers', '2', '--consumers', '2', '--window', '16', '--persistent'] }, o.warmup, 0, tag);
        say(`warmup: ${fmtN(w.msgPerSec)} msg/s`);
      }
      for (const r of o.rows) {
        let row = r;
        if (r.key === 'half') {
          const peak = cells.get(`${s}/w64`)?.msgPerSec ?? 0;
          if (!(peak > 0)) {
            cells.set(`${s}/${r.key}`, { msgPerSec: 0, p99ReceiptMs: NaN, p50ReceiptMs: NaN, sent: 0, lost: 0, duplicates: 0, failedSends: 0, exit: 1, error: 'needs the w64 row first' });
            continue;
          }
          row = { ...r, args: [...r.args, '--rate', String(Math.max(1, Math.round(peak / 2)))] };
        }
        const c = await sys.run(row, o.duration, o.rowWarmup, tag);
        cells.set(`${s}/${r.key}`, c);
        if ((c.error && c.error !== NOT_APPLICABLE) || c.lost || c.duplicates || c.failedSends) failed = true;
        say(`${s} / ${r.title}: ${fmtN(c.msgPerSec)} msg/s, p50 ${fmtMs(c.p50ReceiptMs)} ms, p99 ${fmtMs(c.p99ReceiptMs)} ms${c.error ? `, error ${c.error}` : ''}`);
      }
    } finally {
      current = undefined;
      await sys.stop().catch((e: Error) => say(`stopping ${s}: ${e.message}`));
    }
  }
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version };
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ settings: { duration: o.duration, warmup: o.warmup, rowWarmup: o.rowWarmup, sizeBytes: 1024 }, machine, rows: o.rows, systems: o.systems, cells: Object.fromEntries(cells) }, null, 2)}\n`);
  } else {
    process.stdout.write(`${table(o.systems, o.rows, cells)}\n\n1 KiB bodies, ${o.duration} s per row after ${o.rowWarmup} s unmeasured, client-individual acks; p99 = send->receipt.` +
      ` machine: ${machine.nproc} x ${machine.cpu}, ${machine.ramGiB} GiB, node ${machine.node}\n`);
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: Error) => { process.stderr.write(`${e.stack ?? e.message}\n`); process.exit(1); });
}
