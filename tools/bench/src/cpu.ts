#!/usr/bin/env node
// Where a group of 3's CPU goes, by offered load: the same `hawser bench` row (1 producer,
// 1 consumer, window 64 (--window), 1 KiB persistent, client-individual acks) paced with --rate at
// several rates, then unpaced; for each, the CPU every process used per message (from
// /proc/<pid>/stat: user + system) and how often each event loop woke up per message
// (voluntary context switches of its main thread, /proc/<pid>/status). A system whose cost
// is per message shows flat figures; one whose cost is per wake-up shows CPU per message
// falling as the rate rises (more messages share a wake-up). Linux only (/proc).
//
//   node tools/bench/dist/cpu.js [--sync quorum_mem] [--rates 200,1000,2000,max] [--duration 8] [--warmup 4] [--row-warmup 2]
//        [--store-args '--journal.writeDelayMs 0'] [--window 64] [--json]     (--store-args: extra store flags, for A/B runs;
//        --window 1: the receipt-per-message row; --home master: no gateway process, the client on
//        the master node's embedded gateway, in-process; --row-warmup: each rate's bench runs that many
//        seconds unmeasured first, and CPU is read from the end of it, as compare.js's rows)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '@hawser/integration/dist/cluster';
import { ROOT } from '@hawser/integration/dist/harness';
import { eachOption, numberOption, usageExit, UsageError } from './args';

const CLI = join(ROOT, 'tools/cli/dist/main.js');
const SYNCS = ['quorum_mem', 'quorum_disk', 'remote_mem', 'local_mem'] as const;
type Sync = typeof SYNCS[number];
const USAGE = "usage: hawser-bench-cpu [--sync quorum_mem] [--rates 200,1000,2000,max] [--duration S=8] [--warmup S=4] [--row-warmup S=2] [--store-args '--flag value ...'] [--window N=64] [--home separate|master] [--json]";

interface Options { sync: Sync; rates: Array<number | 'max'>; duration: number; warmup: number; rowWarmup: number; storeArgs: string[]; window: number; home: 'separate' | 'master'; json: boolean }

export function parseArgs(argv: string[]): Options {
  const o: Options = { sync: 'quorum_mem', rates: [200, 1000, 2000, 'max'], duration: 8, warmup: 4, rowWarmup: 2, storeArgs: [], window: 64, home: 'separate', json: false };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (name === 'duration' || name === 'warmup') o[name] = numberOption(a, v, { zero: name === 'warmup', what: 'a number of seconds' });
    else if (name === 'row-warmup') o.rowWarmup = numberOption(a, v, { zero: true, integer: true, what: 'a whole number of seconds' });
    else if (name === 'window') o.window = numberOption(a, v, { what: 'a number of SENDs awaiting a receipt' });
    else if (name === 'home') {
      if (v !== 'separate' && v !== 'master') throw new UsageError(`--home: unknown '${v}' (known: separate, master)`);
      o.home = v;
    } else if (name === 'sync') {
      if (!(SYNCS as readonly string[]).includes(v)) throw new UsageError(`--sync: unknown '${v}' (known: ${SYNCS.join(', ')})`);
      o.sync = v as Sync;
    } else if (name === 'rates') {
      o.rates = v.split(',').filter(Boolean).map((r) => (r === 'max' ? 'max' : numberOption('--rates', r, { what: "a rate in msg/s or 'max'" })));
      if (!o.rates.length) throw new UsageError('--rates: expected at least one rate');
    } else if (name === 'store-args') {
      o.storeArgs = v.split(/\s+/).filter(Boolean);
      if (o.storeArgs.length % 2 || o.storeArgs.some((x, i) => i % 2 === 0 && !x.startsWith('--'))) throw new UsageError(`--store-args: expected '--flag value' pairs, got '${v}'`);
    } else throw new UsageError(`unknown option ${a}\n${USAGE}`);
  }).json;
  return o;
}

/** CPU ticks (user + system) of a process, and its main thread's voluntary context switches. */
export function sample(pid: number): { ticks: number; wakeups: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields after "pid (comm) "
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(status);
    return { ticks: Number(f[11]) + Number(f[12]), wakeups: m ? Number(m[1]) : 0 };
  } catch {
    return undefined;
  }
}

const TICK_MS = 10; // USER_HZ = 100 on Linux
/** The line `hawser bench --warmup S` writes to stderr when its measured part starts (tools/cli/src/bench.ts). */
const WARMED_UP = 'bench: warm-up over, measuring';

interface Proc { name: string; pid: number }
export interface Result {
  rate: number | 'max'; msgPerSec: number; p50Ms: number; p99Ms: number; messages: number; lost: number; duplicates: number;
  /** Per process: CPU ms per message and wake-ups per message. */
  perMessage: Record<string, { cpuMs: number; wakeups: number }>;
  totalCpuMsPerMessage: number;
  /** Share of the machine's CPUs the processes used over the run (1 = every core busy). */
  machineBusy: number;
}

/** Runs `hawser bench` while sampling the bench process and the services (from the end of its row warm-up). */
async function measure(uri: string, procs: Proc[], rate: number | 'max', o: Options, dest: string): Promise<Result> {
  const rowWarmup = o.rowWarmup;
  const args = ['bench', '--uri', uri, '--duration', String(o.duration), '--json', '--destination', dest,
    '--producers', '1', '--consumers', '1', '--window', String(o.window), '--size', '1024', '--persistent', ...(rate === 'max' ? [] : ['--rate', String(rate)]),
    ...(rowWarmup > 0 ? ['--warmup', String(rowWarmup)] : [])];
  const sampleAll = () => new Map(procs.map((p) => [p.name, sample(p.pid)]));
  let before = rowWarmup > 0 ? undefined : sampleAll();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  // The bench's own CPU: at the end of its warm-up, and its last sample before it exits (polled every 50 ms).
  let benchFirst: { ticks: number; wakeups: number } | undefined = rowWarmup > 0 ? undefined : { ticks: 0, wakeups: 0 };
  let benchLast: { ticks: number; wakeups: number } | undefined;
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (!before && stderr.includes(WARMED_UP)) {
      before = sampleAll();
      benchFirst = child.pid ? sample(child.pid) : undefined;
    }
  });
  const poll = setInterval(() => { if (child.pid) benchLast = sample(child.pid) ?? benchLast; }, 50);
  const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));
  clearInterval(poll);
  const after = sampleAll();
  let j: { producer: { msgPerSec: number; messages: number }; receipted: number; lost: number; duplicates: number; latencyMs: { sendToReceipt: { p50: number; p99: number } } };
  try { j = JSON.parse(stdout); } catch { throw new Error(`bench failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`); }
  if (!before) throw new Error(`the bench never said '${WARMED_UP}' (exit ${code})`);
  // Per measured message: what was receipted of the SENDs after the warm-up (all of them without one).
  const measured = rowWarmup > 0 ? j.producer.messages : j.receipted;
  const n = Math.max(1, measured);
  const perMessage: Result['perMessage'] = {};
  let total = 0;
  for (const p of procs) {
    const a = before.get(p.name);
    const b = after.get(p.name);
    if (!a || !b) continue;
    const cpuMs = ((b.ticks - a.ticks) * TICK_MS) / n;
    total += cpuMs;
    perMessage[p.name] = { cpuMs, wakeups: (b.wakeups - a.wakeups) / n };
  }
  if (benchLast && benchFirst) {
    const cpuMs = ((benchLast.ticks - benchFirst.ticks) * TICK_MS) / n;
    total += cpuMs;
    perMessage.bench = { cpuMs, wakeups: (benchLast.wakeups - benchFirst.wakeups) / n };
  }
  return {
    rate, msgPerSec: j.producer.msgPerSec, p50Ms: j.latencyMs.sendToReceipt.p50, p99Ms: j.latencyMs.sendToReceipt.p99,
    messages: measured, lost: j.lost, duplicates: j.duplicates, perMessage, totalCpuMsPerMessage: total,
    machineBusy: (total * measured) / (o.duration * 1000 * cpus().length),
  };
}

export function table(results: Result[], names: string[]): string {
  const f2 = (x: number) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const lines = [
    `| offered rate | msg/s | p50 / p99 ms | CPU ms per message: ${names.join(' / ')} / total | wake-ups per message: ${names.join(' / ')} | CPU busy |`,
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const cpu = names.map((k) => (r.perMessage[k] ? f2(r.perMessage[k]!.cpuMs) : '-'));
    const wk = names.map((k) => (r.perMessage[k] ? f2(r.perMessage[k]!.wakeups) : '-'));
    lines.push(`| ${r.rate === 'max' ? 'unpaced' : `${r.rate}/s`} | ${Math.round(r.msgPerSec).toLocaleString('en-US')} | ${f2(r.p50Ms)} / ${f2(r.p99Ms)} | ${cpu.join(' / ')} / **${f2(r.totalCpuMsPerMessage)}** | ${wk.join(' / ')} | ${Math.round(r.machineBusy * 100)}% |`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseArgs(argv); } catch (e) { return usageExit(e); }
  const say = (s: string) => process.stderr.write(`[cpu] ${s}\n`);
  const embedded = o.home === 'master';
  const c = await Cluster.start({
    name: `cpu-${o.sync}`, sync: o.sync, stores: 3, coordinators: 1, gateways: embedded ? 0 : 1, embeddedGateways: embedded, maxWaitMs: 60_000, storeArgs: o.storeArgs,
  });
  try {
    const { store: master } = await c.waitForMaster();
    const procs: Proc[] = [];
    let slave = 0;
    for (const s of c.stores) procs.push({ name: s === master ? 'master' : `slave${++slave}`, pid: s.pid! });
    if (!embedded) procs.push({ name: 'gateway', pid: c.gateway.pid! });
    procs.push({ name: 'coordinator', pid: c.coordinators[0]!.pid! });
    const uri = embedded ? master.stompUri : c.gateway.stompUri;
    const tag = Date.now().toString(36);
    if (o.warmup > 0) {
      say(`warming up for ${o.warmup} s`);
      await measure(uri, procs, 'max', { ...o, duration: o.warmup }, `/queue/cpu.warmup.${tag}`);
    }
    const results: Result[] = [];
    for (const rate of o.rates) {
      const r = await measure(uri, procs, rate, o, `/queue/cpu.${rate}.${tag}`);
      results.push(r);
      say(`${rate === 'max' ? 'unpaced' : `${rate}/s`}: ${Math.round(r.msgPerSec)} msg/s, ${r.totalCpuMsPerMessage.toFixed(2)} ms CPU per message, machine ${Math.round(r.machineBusy * 100)}% busy, lost ${r.lost}, duplicates ${r.duplicates}`);
    }
    const names = embedded ? ['master', 'slave1', 'slave2', 'bench'] : ['master', 'slave1', 'slave2', 'gateway', 'bench'];
    const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version };
    if (o.json) process.stdout.write(`${JSON.stringify({ sync: o.sync, home: o.home, window: o.window, duration: o.duration, machine, results }, null, 2)}\n`);
    else process.stdout.write(`${table(results, names)}\n\nsync=${o.sync}${o.storeArgs.length ? ` ${o.storeArgs.join(' ')}` : ''}, 1 producer + 1 consumer, window ${o.window}, 1 KiB persistent, ${o.duration} s per rate; machine: ${machine.nproc} x ${machine.cpu}, node ${machine.node}\n`);
    return results.some((r) => r.lost || r.duplicates) ? 1 : 0;
  } finally {
    await c.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: Error) => { process.stderr.write(`${e.stack ?? e.message}\n`); process.exit(1); });
}
