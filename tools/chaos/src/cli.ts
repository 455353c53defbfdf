#!/usr/bin/env node
// hawser-chaos: see README.md.
//   hawser-chaos local [--seed N] [--cycles N] [--kinds k1,k2] [--out DIR] [--groups 1|2] [--zk 1|3] [--rate X] [--drain-ms MS] [--json]
//   hawser-chaos workload --path NAME=GROUP=URI[,URI...] [--path ...] [--duration-s S] [--seed N] [--out DIR] [--json]
//   hawser-chaos activemq [--seed N] [--cycles N] [--kinds ...] [--out DIR] [--json]   (ActiveMQ 5.17 shared-store pair)
//   hawser-chaos check HISTORY.jsonl [MORE.jsonl ...] [--json]
// Exit status: 0 no violation, 1 a violation (lost, duplicate after ack, unmarked duplicate,
// reordered, half transaction...), 2 bad usage or the run could not be carried out.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, summarize, type Report } from './checker';
import { FAULT_KINDS, type FaultKind } from './faults';
import { readHistory, type HistoryEvent } from './history';
import { runLocal, runWorkload } from './run';
import { runActiveMq } from './activemq';
import type { Path } from './workload';

export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

const USAGE = `usage:
  hawser-chaos local [--seed N] [--cycles N] [--kinds ${FAULT_KINDS.join(',')}] [--out DIR] [--groups 1|2] [--zk 1|3] [--rate X] [--drain-ms MS] [--json]
  hawser-chaos workload --path NAME=GROUP=URI[,URI...] [--path ...] [--duration-s S] [--seed N] [--out DIR] [--json]
  hawser-chaos activemq [--seed N] [--cycles N] [--kinds kill-master,kill-slave,pause-short,pause-long] [--out DIR] [--json]
  hawser-chaos check HISTORY.jsonl [MORE.jsonl ...] [--json]`;

export interface Args { cmd: string; flags: Map<string, string[]>; rest: string[] }

export function parseArgs(argv: string[]): Args {
  const [cmd, ...more] = argv;
  if (!cmd || !['local', 'workload', 'activemq', 'check'].includes(cmd)) throw new UsageError(`unknown command '${cmd ?? ''}'\n${USAGE}`);
  const flags = new Map<string, string[]>();
  const rest: string[] = [];
  for (let i = 0; i < more.length; i++) {
    const a = more[i]!;
    if (a === '--json') { flags.set('json', ['true']); continue; }
    if (a.startsWith('--')) {
      const v = more[i + 1];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      flags.set(a.slice(2), [...(flags.get(a.slice(2)) ?? []), v]);
      i++;
    } else rest.push(a);
  }
  return { cmd, flags, rest };
}

function num(a: Args, name: string, dflt: number): number {
  const v = a.flags.get(name)?.at(-1);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number, got '${v}'`);
  return n;
}

export function parsePath(s: string): Path {
  const m = /^([^=]+)=([^=]+)=(.+)$/.exec(s);
  if (!m) throw new UsageError(`--path must be NAME=GROUP=URI[,URI...], got '${s}'`);
  return { name: m[1]!, group: m[2]!, uris: m[3]!.split(',') };
}

function kinds(a: Args): FaultKind[] | undefined {
  const v = a.flags.get('kinds')?.at(-1);
  if (!v) return undefined;
  const ks = v.split(',');
  for (const k of ks) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new UsageError(`--kinds: unknown fault '${k}' (known: ${FAULT_KINDS.join(', ')})`);
  return ks as FaultKind[];
}

function print(a: Args, r: Report, extra: Record<string, unknown> = {}, reportFile?: string): number {
  // --json: the report file as written (with the run's seed, plan, topology and dirs) when there is one.
  const full = reportFile ? JSON.parse(readFileSync(reportFile, 'utf8')) as Record<string, unknown> : {};
  if (a.flags.has('json')) process.stdout.write(JSON.stringify({ ...extra, ...full, ...r }) + '\n');
  else process.stdout.write(summarize(r) + '\n');
  return r.ok ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const seed = num(a, 'seed', Math.floor(Math.random() * 1e9));
  if (a.cmd === 'check') {
    if (a.rest.length === 0) throw new UsageError(`check needs a history file\n${USAGE}`);
    const events: HistoryEvent[] = a.rest.flatMap((f) => readHistory(f)).sort((x, y) => x.t - y.t);
    return print(a, check(events));
  }
  const out = a.flags.get('out')?.at(-1) ?? mkdtempSync(join(tmpdir(), 'hawser-chaos-'));
  if (a.cmd === 'workload') {
    const paths = (a.flags.get('path') ?? []).map(parsePath);
    if (paths.length === 0) throw new UsageError(`workload needs at least one --path\n${USAGE}`);
    const r = await runWorkload({ paths, seed, durationMs: num(a, 'duration-s', 60) * 1000, out, rate: num(a, 'rate', 1), drainMs: num(a, 'drain-ms', 60_000) });
    return print(a, r.report, { seed, history: r.historyFile }, r.reportFile);
  }
  process.stderr.write(`[chaos] seed ${seed} (replay: --seed ${seed}), output in ${out}\n`);
  if (a.cmd === 'activemq') {
    const r = await runActiveMq({ seed, cycles: num(a, 'cycles', 5), kinds: kinds(a), out, rate: num(a, 'rate', 1), drainMs: num(a, 'drain-ms', 60_000) });
    return print(a, r.report, { seed, history: r.historyFile, reportFile: r.reportFile }, r.reportFile);
  }
  const r = await runLocal({
    seed, cycles: num(a, 'cycles', 5), kinds: kinds(a), out, rate: num(a, 'rate', 1), drainMs: num(a, 'drain-ms', 60_000),
    topology: { groups: num(a, 'groups', 2), zkServers: num(a, 'zk', 3), sessionTimeoutMs: num(a, 'session-timeout-ms', 1000) },
  });
  return print(a, r.report, { seed, history: r.historyFile, reportFile: r.reportFile }, r.reportFile);
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
    process.stderr.write(`hawser-chaos: ${e instanceof UsageError ? e.message : (e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  });
}
