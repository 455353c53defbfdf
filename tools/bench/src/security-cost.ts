#!/usr/bin/env node
// What issue 10's security costs: each system plain and secure (client TLS + a login checked
// against a users file + the authorization map on every SEND/SUBSCRIBE, and mutual TLS between
// gateway and store), measured in alternating pairs (A, B, A, B, ...) so both see the same
// machine, with two figures per run:
//   - CPU per message (user + system of every service process, from /proc) at a fixed offered
//     rate: what the security costs whatever else runs on the machine;
//   - msg/s unpaced (receipt per message, and window 64): what a client sees, noisier.
// Medians and the spread (min-max) over the rounds.
//
//   node tools/bench/dist/security-cost.js [--rounds 3] [--duration 10] [--rate 500] [--homes separate,embedded] [--json]
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '@hawser/integration/dist/harness';
import { eachOption, numberOption, usageExit, UsageError } from './args';
import { startSecure, startStomp, type StartedSystem } from './compare';
import { sample } from './cpu';

const CLI = join(ROOT, 'tools/cli/dist/main.js');
const HOMES = { separate: ['standalone', 'standalone_secure'], embedded: ['embedded', 'embedded_secure'] } as const;
type Home = keyof typeof HOMES;
const USAGE = 'usage: hawser-bench-security-cost [--rounds N=3] [--duration S=10] [--rate R=500] [--homes separate,embedded] [--json]';

interface Options { rounds: number; duration: number; rate: number; homes: Home[]; json: boolean }

export function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 3, duration: 10, rate: 500, homes: ['separate', 'embedded'], json: false };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (name === 'rounds' || name === 'duration' || name === 'rate') o[name] = numberOption(a, v, { what: 'a positive number' });
    else if (name === 'homes') {
      const hs = v.split(',').filter(Boolean);
      const bad = hs.find((h) => !(h in HOMES));
      if (bad || !hs.length) throw new UsageError(`--homes: unknown '${bad ?? ''}' (known: ${Object.keys(HOMES).join(', ')})`);
      o.homes = hs as Home[];
    } else throw new UsageError(`unknown option ${a}\n${USAGE}`);
  }).json;
  return o;
}

interface Run { system: string; row: string; msgPerSec: number; p99Ms: number; cpuMsPerMessage: number; messages: number }

const ROWS = [
  { key: 'paced', title: 'window 64 at a fixed rate (CPU per message)', args: (o: Options) => ['--window', '64', '--rate', String(o.rate)] },
  { key: 'rpm', title: 'receipt per message, unpaced', args: () => ['--window', '1'] },
  { key: 'w64', title: 'window 64, unpaced', args: () => ['--window', '64'] },
] as const;

/** One `hawser bench` row on a started system, with the CPU its service processes used per message. */
async function measure(sys: StartedSystem, login: string[], row: typeof ROWS[number], o: Options, dest: string): Promise<Omit<Run, 'system'>> {
  const procs = sys.procs();
  const before = procs.map((p) => sample(p.pid));
  const args = ['bench', '--uri', sys.uri, ...login, '--duration', String(o.duration), '--json', '--destination', dest,
    '--producers', '1', '--consumers', '1', '--size', '1024', '--persistent', ...row.args(o)];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));
  const after = procs.map((p) => sample(p.pid));
  let j: { producer: { msgPerSec: number }; receipted: number; latencyMs: { sendToReceipt: { p99: number } } };
  try { j = JSON.parse(stdout); } catch { throw new Error(`bench failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`); }
  let ticks = 0;
  procs.forEach((_, i) => { const a = before[i]; const b = after[i]; if (a && b) ticks += b.ticks - a.ticks; });
  return { row: row.key, msgPerSec: j.producer.msgPerSec, p99Ms: j.latencyMs.sendToReceipt.p99, cpuMsPerMessage: (ticks * 10) / Math.max(1, j.receipted), messages: j.receipted };
}

async function start(system: string): Promise<{ sys: StartedSystem; login: string[] }> {
  if (system.endsWith('_secure')) {
    const s = await startSecure(system as 'standalone_secure' | 'embedded_secure');
    return { sys: s, login: s.login };
  }
  return { sys: await startStomp(system as 'standalone' | 'embedded'), login: [] };
}

const say = (s: string) => process.stderr.write(`[security-cost] ${s}\n`);
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN; };

export function table(runs: Run[], o: Options): string {
  const lines = ['| home | row | plain: median (min-max) | secure: median (min-max) | secure / plain |', '| --- | --- | --- | --- | --- |'];
  for (const home of o.homes) {
    const [plain, secure] = HOMES[home];
    for (const row of ROWS) {
      const pick = (sys: string) => runs.filter((r) => r.system === sys && r.row === row.key);
      const fig = (r: Run) => (row.key === 'paced' ? r.cpuMsPerMessage : r.msgPerSec);
      const cell = (rs: Run[]) => {
        const xs = rs.map(fig);
        if (!xs.length) return '-';
        const f = (x: number) => (row.key === 'paced' ? x.toFixed(2) : Math.round(x).toLocaleString('en-US'));
        return `${f(median(xs))} (${f(Math.min(...xs))}-${f(Math.max(...xs))})${row.key === 'paced' ? ' ms CPU/msg' : ' msg/s'}`;
      };
      const a = pick(plain);
      const b = pick(secure);
      const ratio = a.length && b.length ? (median(b.map(fig)) / median(a.map(fig))).toFixed(2) : '-';
      lines.push(`| ${home} | ${row.title} | ${cell(a)} | ${cell(b)} | ${ratio}x |`);
    }
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseArgs(argv); } catch (e) { return usageExit(e); }
  const runs: Run[] = [];
  const tag = Date.now().toString(36);
  let current: StartedSystem | undefined;
  const interrupted = (signal: NodeJS.Signals) => { say(`${signal}: stopping`); void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130)); };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  for (let round = 1; round <= o.rounds; round++) {
    for (const home of o.homes) {
      // Alternate which goes first, so neither always runs on a warmer (or busier) machine.
      const pair = round % 2 ? HOMES[home] : [...HOMES[home]].reverse();
      for (const system of pair) {
        const { sys, login } = await start(system);
        current = sys;
        try {
          for (const row of ROWS) {
            const r = await measure(sys, login, row, o, `/queue/seccost.${tag}.${system}.${row.key}.${round}`);
            runs.push({ system, ...r });
            say(`round ${round} ${system} ${row.key}: ${Math.round(r.msgPerSec)} msg/s, p99 ${r.p99Ms.toFixed(1)} ms, ${r.cpuMsPerMessage.toFixed(2)} ms CPU/msg`);
          }
        } finally { await sys.stop(); current = undefined; }
      }
    }
  }
  if (o.json) process.stdout.write(JSON.stringify({ options: o, runs }) + '\n');
  else {
    process.stdout.write(`${table(runs, o)}\n\n1 producer + 1 consumer, 1 KiB persistent, client-individual acks; ${o.rounds} alternating rounds of ${o.duration} s per row; `
      + `CPU = user+system of every service process per receipted message at ${o.rate} msg/s offered. machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, `
      + `${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}\n`);
  }
  return 0;
}

if (require.main === module) void main(process.argv.slice(2)).then((c) => { process.exitCode = c; });
