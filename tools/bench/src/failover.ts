#!/usr/bin/env node
// Failover benchmark: how long a producer goes without receipts when the master of a
// replicated group is killed with `kill -9`.
//
// Starts a private cluster (ZooKeeper, 3 replicated stores, 2 coordinators, 1 gateway) with
// the integration suite's launcher (@hawser/integration/dist/cluster, the same code the
// replicated-*.e2e specs use), runs a producer that sends persistent messages with receipts
// continuously through the gateway, then `kill -9`s the master K times (restarting it and
// waiting until it is a caught-up slave again between rounds). Per round it reports the time
// from the kill to the first receipt from the new master, and a breakdown taken from the
// services' log timestamps (same clock): detection (kill -> coordinator starts an election),
// election (-> master elected), topology (-> the gateway hears of it), session move (-> the
// gateway's session is open on the new master), first receipt (-> the client has a receipt).
//
//   node tools/bench/dist/failover.js [--rounds 10] [--json] [--tickTime 200]
//        [--sessionTimeout 1000] [--masterTimeoutMs 1000] [--rate 500] [--window 8] [--gapMs 50]
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { connect, type StompClient } from '@hawser/client';
import { Cluster, checkFor, sleep, type Store } from '@hawser/integration/dist/cluster';
import { firstReceiptAfterFailover, summarize, type Summary } from './stats';
import { eachOption, numberOption, usageExit, UsageError } from './args';

interface Options {
  rounds: number; json: boolean; tickTime: number; sessionTimeout: number; masterTimeoutMs: number;
  rate: number; window: number; gapMs: number; sync: string;
}

const USAGE = `usage: hawser-bench-failover [--rounds N=10] [--json] [--tickTime MS=200] [--sessionTimeout MS=1000]
       [--masterTimeoutMs MS=1000] [--rate MSG_PER_S=500] [--window N=8] [--gapMs MS=50] [--sync MODE=quorum_mem]`;

export function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 10, json: false, tickTime: 200, sessionTimeout: 1000, masterTimeoutMs: 1000, rate: 500, window: 8, gapMs: 50, sync: 'quorum_mem' };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (!(name in o) || name === 'json') throw new UsageError(`unknown option ${a}\n${USAGE}`);
    if (name === 'sync') o.sync = v;
    else (o as unknown as Record<string, number>)[name] = numberOption(a, v);
  }).json;
  return o;
}

interface LogLine { t: number; msg: string; [k: string]: unknown }

function logLines(file: string): LogLine[] {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { return []; }
  const out: LogLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      const o = JSON.parse(l) as Record<string, unknown>;
      const t = typeof o.time === 'string' ? Date.parse(o.time) : typeof o.time === 'number' ? o.time : NaN;
      if (Number.isFinite(t)) out.push({ ...o, t, msg: String(o.msg ?? '') });
    } catch { /* partial line */ }
  }
  return out;
}

/** The first line (over several files) after `from` whose msg matches, or undefined. */
function firstAfter(files: string[], from: number, match: (l: LogLine) => boolean): LogLine | undefined {
  let best: LogLine | undefined;
  for (const f of files) for (const l of logLines(f)) if (l.t >= from && match(l) && (!best || l.t < best.t)) best = l;
  return best;
}

interface Round {
  round: number;
  killed: string;
  newMaster: string;
  epoch: number;
  /** kill -> first receipt from the new master (ms) */
  failoverMs: number;
  stragglers: number;
  /** how the first receipt of the new master was told apart: 'gateway-log' or 'gap' */
  rule: string;
  /** from the services' logs, ms since the kill (undefined: line not found) */
  electionStartedMs?: number;
  electionReason?: string;
  masterElectedMs?: number;
  gatewayHeardMs?: number;
  sessionMovedMs?: number;
}

class Producer {
  readonly receipts: number[] = [];
  sent = 0;
  errors: string[] = [];
  private running = true;
  private loop: Promise<void> | undefined;
  constructor(private readonly client: StompClient, private readonly queue: string, private readonly rate: number, private readonly window: number) {}

  start(): void {
    const w = this.client.pipeline(this.window);
    const t0 = Date.now();
    this.loop = (async () => {
      while (this.running) {
        const due = Math.floor(((Date.now() - t0) / 1000) * this.rate);
        while (this.sent < due && w.inFlight + w.waiting < this.window * 2) {
          const n = this.sent++;
          w.send(this.queue, `f${n}`, { persistent: true }).then(
            () => { this.receipts.push(Date.now()); },
            (e: Error) => { this.errors.push(`f${n}: ${e.message}`); },
          );
        }
        await sleep(1);
      }
      await w.drain();
    })();
  }

  async stop(): Promise<void> { this.running = false; await this.loop; }
}

function fmt(n: number | undefined): string { return n === undefined || !Number.isFinite(n) ? '-' : String(Math.round(n)); }

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseArgs(argv); } catch (e) { return usageExit(e); }
  const say = (s: string) => process.stderr.write(`[bench] ${s}\n`);
  const cluster = await Cluster.start({
    name: 'bench-failover', tickTime: o.tickTime, sessionTimeoutMs: o.sessionTimeout, masterTimeoutMs: o.masterTimeoutMs,
    maxWaitMs: 60_000, sync: o.sync,
  });
  let client: StompClient | undefined;
  let producer: Producer | undefined;
  const rounds: Round[] = [];
  let failure: Error | undefined;
  try {
    client = await connect(cluster.gateway.stompUri, { receiptTimeoutMs: 120_000, connectTimeoutMs: 10_000 });
    let closed = false;
    client.on('close', () => { closed = true; });
    // Consumes what the producer sends so the queue stays short over many rounds.
    const sub = await client.subscribe('/queue/bench.failover', { ack: 'auto', prefetch: 1000 });
    void (async () => { for (;;) { const m = await sub.tryNext(1000).catch(() => undefined); if (!m && sub.closed) return; } })();
    producer = new Producer(client, '/queue/bench.failover', o.rate, o.window);
    producer.start();
    const coordLogs = cluster.coordinators.map((c) => c.logFile);
    const gwLogs = cluster.gateways.map((g) => g.logFile);
    for (let k = 1; k <= o.rounds; k++) {
      const { master, group } = await cluster.waitHealthy(Math.max(1000, o.rate * 2), 60_000);
      // Receipts must be flowing before the kill.
      const before = producer.receipts.length;
      await checkFor(10_000, 10, () => { if (producer!.receipts.length < before + 20) throw new Error('no receipts flowing'); });
      const killedId = cluster.idOf(master);
      const killAt = Date.now();
      await master.kill9();
      const next = await cluster.waitForMaster({ exclude: killedId, aboveEpoch: group.epoch, deadlineMs: 60_000 });
      // Which receipts are the new master's: those that reached the client after the gateway
      // first opened the session on it (its log line, same clock, ms); receipts the dead master
      // sent just before dying arrive before that. Without that line: the gap rule (stats.ts).
      const first = await checkFor(60_000, 5, () => {
        const opened = firstAfter(gwLogs, killAt - 5, (l) => l.msg === 'session opened on the master; replaying' && l.epoch === next.group.epoch);
        if (opened) {
          const i = producer!.receipts.findIndex((r) => r >= opened.t);
          if (i < 0) throw new Error(`no receipt since the gateway opened the session on ${next.group.masterId} (${producer!.errors.length} errors)`);
          return { at: producer!.receipts[i]!, stragglers: producer!.receipts.filter((r) => r > killAt && r < opened.t).length, rule: 'gateway-log' };
        }
        const f = Date.now() - killAt > 30_000 ? firstReceiptAfterFailover(producer!.receipts, killAt, o.gapMs) : undefined;
        if (!f) throw new Error(`no receipt from the new master yet (${producer!.errors.length} errors)`);
        return { ...f, rule: 'gap' };
      });
      const started = firstAfter(coordLogs, killAt - 5, (l) => l.msg === 'election started');
      const elected = firstAfter(coordLogs, killAt - 5, (l) => l.msg === 'master elected');
      const heard = firstAfter(gwLogs, killAt - 5, (l) => l.msg === 'group master changed' && !!l.master);
      const moved = firstAfter(gwLogs, killAt - 5, (l) => l.msg === 'session moved to the new master');
      const since = (l: LogLine | undefined) => (l ? l.t - killAt : undefined);
      const r: Round = {
        round: k, killed: killedId, newMaster: next.group.masterId, epoch: next.group.epoch,
        failoverMs: first.at - killAt, stragglers: first.stragglers, rule: first.rule,
        electionStartedMs: since(started), electionReason: started ? String(started.reason ?? '') : undefined,
        masterElectedMs: since(elected), gatewayHeardMs: since(heard), sessionMovedMs: since(moved),
      };
      rounds.push(r);
      say(`round ${k}: ${killedId} -> ${r.newMaster} (epoch ${r.epoch}): ${r.failoverMs} ms to first receipt; ` +
        `election started +${fmt(r.electionStartedMs)} (${r.electionReason ?? '?'}), elected +${fmt(r.masterElectedMs)}, ` +
        `gateway heard +${fmt(r.gatewayHeardMs)}, session moved +${fmt(r.sessionMovedMs)}`);
      if (closed) throw new Error('the client connection to the gateway closed during the failover');
      await (master as Store).restart();
    }
    await producer.stop();
    if (producer.errors.length) say(`${producer.errors.length} SENDs failed, e.g. ${producer.errors.slice(0, 3).join('; ')}`);
  } catch (e) {
    failure = e as Error;
    say(`FAILED: ${failure.message}`);
    say(cluster.logTails(60));
  } finally {
    await producer?.stop().catch(() => undefined);
    await client?.disconnect({ timeoutMs: 2000 }).catch(() => client?.destroy());
    await cluster.close();
  }

  const values = rounds.map((r) => r.failoverMs);
  const summary: Summary = summarize(values);
  const part = (f: (r: Round) => number | undefined) => summarize(rounds.map(f).filter((x): x is number => x !== undefined));
  const breakdown = {
    electionStarted: part((r) => r.electionStartedMs),
    masterElected: part((r) => r.masterElectedMs),
    gatewayHeard: part((r) => r.gatewayHeardMs),
    sessionMoved: part((r) => r.sessionMovedMs),
  };
  const settings = {
    zookeeperTickTime: o.tickTime, storeZkSessionTimeout: o.sessionTimeout, masterTimeoutMs: o.masterTimeoutMs,
    sync: o.sync, rate: o.rate, window: o.window, gapMs: o.gapMs, rounds: o.rounds,
  };
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version };
  const result = { settings, machine, failoverMs: summary, breakdownMsSinceKill: breakdown, rounds, sent: producer?.sent ?? 0, receipts: producer?.receipts.length ?? 0, sendErrors: producer?.errors.length ?? 0, error: failure?.message };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const out = [
      `failover (kill -9 of the master -> first receipt from the new master), ${summary.n} rounds:`,
      `  median ${fmt(summary.median)} ms   p90 ${fmt(summary.p90)} ms   max ${fmt(summary.max)} ms   min ${fmt(summary.min)} ms`,
      `  breakdown (median ms after the kill): election started ${fmt(breakdown.electionStarted.median)}, master elected ${fmt(breakdown.masterElected.median)}, ` +
        `gateway heard ${fmt(breakdown.gatewayHeard.median)}, session moved ${fmt(breakdown.sessionMoved.median)}, first receipt ${fmt(summary.median)}`,
      `  settings: ZooKeeper tickTime ${o.tickTime} ms, store zk.sessionTimeout ${o.sessionTimeout} ms, replication.masterTimeoutMs ${o.masterTimeoutMs} ms, sync ${o.sync}, ${o.rate} msg/s, window ${o.window}`,
      `  machine: ${machine.nproc} x ${machine.cpu}, ${machine.ramGiB} GiB RAM, node ${machine.node}`,
      `  sent ${result.sent}, receipted ${result.receipts}, send errors ${result.sendErrors}`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  }
  return failure ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: Error) => { process.stderr.write(`${e.stack ?? e.message}\n`); process.exit(1); });
}
