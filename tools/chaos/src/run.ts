// A chaos run: the workload on a set of paths, the faults of a plan one cycle at a time (wait
// for the deployment to be healthy again, a quiet gap under load, the next one), then the
// drain (producers stop and settle, consumers read until every confirmed message arrived or
// the drain deadline passes) and the checker. `runLocal` does it on a private LocalTopology;
// `runWorkload` runs the workload alone against someone's cluster (faults are theirs).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, summarize, type Report } from './checker';
import { FAULT_KINDS, Nemesis, planFaults, type FaultKind, type FaultOutcome, type PlannedFault } from './faults';
import { History, type NoteEvent } from './history';
import { LocalTopology, type LocalOptions } from './local';
import { Rng } from './rng';
import { Consumer, Producer, type Path } from './workload';
import { MqttPublisher, MqttSubscriber } from './mqtt';
import { describeSessions, masterSessions } from './sessions';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** The drain goes on past its time while the missing count fell within this long... */
const DRAIN_PROGRESS_MS = 15_000;
/** ...up to this many times its time. */
const DRAIN_CAP_FACTOR = 10;

export interface WorkloadOptions {
  /** Messages per second per producer are multiplied by this (default 1: about 110 msg/s in all). */
  rate?: number;
  /** Destination name prefix (default chaos.<seed>.<time>): runs on a shared cluster never mix. */
  prefix?: string;
  /** How long consumers may take after the producers stopped to get every confirmed message (default 60 s). */
  drainMs?: number;
}

export interface RunResult { report: Report; historyFile: string; reportFile: string; plan: PlannedFault[]; seed: number }

/** The standard workload on `paths` (from LocalTopology.paths(), or the operator's). */
export class Workload {
  readonly producers: Producer[] = [];
  readonly consumers: Consumer[] = [];
  /** MQTT actors (mqtt.ts), when the paths offer MQTT (`g1-mqtt`, `g1-stores-mqtt`: mqtt:// URIs). */
  readonly mqttPublishers: MqttPublisher[] = [];
  readonly mqttSubscribers: MqttSubscriber[] = [];

  constructor(paths: Path[], private readonly h: History, rng: Rng, o: WorkloadOptions & { prefix: string }) {
    const path = (name: string) => paths.find((p) => p.name === name);
    const g1gw = path('g1-gateway') ?? paths[0]!;
    const g1st = path('g1-stores') ?? g1gw;
    const g2gw = path('g2-gateway');
    const r = o.rate ?? 1;
    const d = (n: string) => `${n.startsWith('topic') ? '/topic/' : '/queue/'}${o.prefix}.${n.replace(/^topic\./, '')}`;
    const q = d('q');
    const ordered = d('ordered');
    const topic = d('topic.t');
    h.add({ type: 'dest', dest: q, kind: 'queue' });
    h.add({ type: 'dest', dest: ordered, kind: 'queue', ordered: true });
    h.add({ type: 'dest', dest: topic, kind: 'topic' });
    const P = (name: string, p: Path, dest: string, rate: number, extra: { txnSize?: number; window?: number } = {}) =>
      this.producers.push(new Producer({ name, path: p, dest, rate: rate * r, ...extra }, h, rng.fork(this.producers.length + 100)));
    const C = (name: string, p: Path, dest: string, sub: string, extra: Partial<ConstructorParameters<typeof Consumer>[0]> = {}) =>
      this.consumers.push(new Consumer({ name, path: p, dest, sub, ...extra }, h, rng.fork(this.consumers.length + 200)));

    P('p-q-gw', g1gw, q, 20);
    P('p-q-st', g1st, q, 20);
    P('p-tx', g1st, q, 15, { txnSize: 4 });
    P('p-ord', g1st, ordered, 20);
    P('p-t', g1gw, topic, 10);
    C('c-q-gw', g1gw, q, `queue:${q}`);
    C('c-q-slow', g1st, q, `queue:${q}`, { failover: true, slowMs: 20 });
    C('c-q-crash', g1st, q, `queue:${q}`, { crashEvery: 30 });
    C('c-ord', g1gw, ordered, `queue:${ordered}`, { prefetch: 10 });
    C('d-1', g1st, topic, `durable:${o.prefix}-d1:d`, { durable: { clientId: `${o.prefix}-d1`, name: 'd' } });
    if (g2gw) {
      const x = d('x');
      const y = d('y');
      h.add({ type: 'dest', dest: x, kind: 'queue' });
      h.add({ type: 'dest', dest: y, kind: 'queue' });
      P('p-x', g1gw, x, 10);
      P('p-y', g2gw, y, 15);
      C('c-x', g2gw, x, `queue:${x}`);
      C('c-y', g1gw, y, `queue:${y}`);
      // Across the bridge a topic copy exists only once the bridge's subscription does: the
      // subscriber counts from the first warm-up publication it gets.
      C('d-2', g2gw, topic, `durable:${o.prefix}-d2:d`, { durable: { clientId: `${o.prefix}-d2`, name: 'd' }, armOnWarmup: true });
    }
    // MQTT QoS 1 and 2: publishers and persistent-session subscribers, crossing the two MQTT
    // paths (a separate gateway's listener, the stores' embedded gateways' listeners).
    const mgw = path('g1-mqtt');
    const mst = path('g1-stores-mqtt') ?? mgw;
    if (mgw && mst) {
      const base = o.prefix.replace(/[^A-Za-z0-9]/g, '_');
      for (const qos of [1, 2] as const) {
        const topic = `${base}/m${qos}`;
        const dest = `mqtt:${topic}`;
        h.add({ type: 'dest', dest, kind: 'topic' });
        this.mqttSubscribers.push(new MqttSubscriber({ name: `s-m${qos}`, path: qos === 1 ? mst : mgw, topic, dest, qos, clientId: `${base}-s${qos}` }, h));
        this.mqttPublishers.push(new MqttPublisher({ name: `p-m${qos}`, path: qos === 1 ? mgw : mst, topic, dest, qos, rate: 10 * r }, h));
      }
    }
    this.topic = topic;
    this.warmupPath = g1gw;
  }

  private readonly topic: string;
  private readonly warmupPath: Path;

  /** Consumers subscribed (cross-group ones armed by warm-up publications), then producers. */
  async start(log: (m: string) => void): Promise<void> {
    await Promise.all([...this.consumers.map((c) => c.start()), ...this.mqttSubscribers.map((c) => c.start())]);
    const waiting = this.consumers.filter((c) => c.o.armOnWarmup);
    if (waiting.length) {
      const warm = new Producer({ name: 'warmup', path: this.warmupPath, dest: this.topic, rate: 5, window: 1 }, this.h, new Rng(0));
      await warm.start();
      const t0 = Date.now();
      while (waiting.some((c) => !c.armed) && Date.now() - t0 < 60_000) await sleep(100);
      await warm.stop(10_000);
      log(`warm-up: ${waiting.map((c) => `${c.name} ${c.armed ? 'armed' : 'NOT armed'}`).join(', ')} after ${Date.now() - t0} ms`);
    }
    await Promise.all([...this.producers.map((p) => p.start()), ...this.mqttPublishers.map((p) => p.start())]);
  }

  /**
   * Producers stop and settle; consumers read until nothing confirmed is missing (or drainMs).
   * Still missing then: `onStuck` (e.g. restart the bridges: stuck in transit, or gone?) and
   * another drain of up to 30 s.
   */
  async stop(drainMs: number, log: (m: string) => void, onStuck?: (missing: string[]) => Promise<void>): Promise<void> {
    await Promise.all([...this.producers.map((p) => p.stop(60_000)), ...this.mqttPublishers.map((p) => p.stop(60_000))]);
    // Past `ms` the drain goes on while the count still falls (DRAIN_PROGRESS_MS): a workload
    // starved of CPU consumes more slowly than it produced, and a backlog read in order is late,
    // not lost. At most DRAIN_CAP_FACTOR times `ms`.
    const drain = async (ms: number) => {
      const t0 = Date.now();
      let missing: string[] = [];
      let fewest = Infinity;
      let fellAt = t0;
      let saidAt = t0;
      for (;;) {
        missing = check(this.h.events).lost.map((v) => `${v.id}@${v.sub}`);
        if (missing.length === 0) break;
        const now = Date.now();
        if (missing.length < fewest) { fewest = missing.length; fellAt = now; }
        if (now - t0 >= ms && (now - fellAt > DRAIN_PROGRESS_MS || now - t0 >= ms * DRAIN_CAP_FACTOR)) break;
        if (now - t0 >= ms && now - saidAt >= 10_000) {
          saidAt = now;
          log(`drain: ${missing.length} confirmed copies still missing after ${now - t0} ms, still falling: going on`);
        }
        await sleep(1000);
      }
      log(`drain: ${missing.length === 0 ? 'every confirmed message delivered' : `${missing.length} confirmed copies still missing`} after ${Date.now() - t0} ms`);
      return missing;
    };
    const missing = await drain(drainMs);
    if (missing.length && onStuck) {
      await onStuck(missing);
      await drain(30_000);
    }
    // A little longer: copies still in flight (duplicates) come now rather than never.
    await sleep(1000);
    await Promise.all([...this.consumers.map((c) => c.stop()), ...this.mqttSubscribers.map((c) => c.stop())]);
  }
}

/** What a chaos run works on: a LocalTopology, an ActiveMQ pair (activemq.ts), ... */
export interface System {
  paths(): Path[];
  describe(): string;
  /** The temp dirs it made (all removed by close()). */
  dirs(): Record<string, string>;
  waitHealthy(deadlineMs: number): Promise<void>;
  /** Writes what it can see of masters and epochs as `note` events until the returned stop(). */
  watch(h: History): () => void;
  close(): Promise<void>;
  /** Synchronous last-resort cleanup (an exit hook): unmount, kill. */
  exitHook(): void;
  /** What it can tell about confirmed messages still missing after the drain (queue depths...), then a nudge (restart the bridges). */
  unstick?(h: History, missing: string[]): Promise<void>;
}

/** The nemesis of a System. */
export interface FaultInjector {
  available(kinds: readonly FaultKind[]): FaultKind[];
  run(p: PlannedFault): Promise<FaultOutcome>;
  /** Restarts whatever is down after a cycle (noting it); returns what it found. */
  repair(cycle: number): Promise<string[]>;
  takeBackAll(): Promise<void>;
}

export interface ChaosRunOptions extends WorkloadOptions {
  seed: number;
  cycles: number;
  kinds?: readonly FaultKind[];
  /** Output dir: history.jsonl, report.json (created). */
  out: string;
  /** Load before the first fault (ms, default 3000). */
  warmMs?: number;
  log?: (m: string) => void;
}

export interface LocalRunOptions extends ChaosRunOptions {
  topology?: LocalOptions;
}

/** Epoch changes per group seen by the topology watch (more than the faults explain: elections the load caused). */
function epochChanges(h: History): Record<string, number> {
  const out: Record<string, number> = {};
  const last = new Map<string, number>();
  for (const e of h.events) {
    if (e.type !== 'note' || e.msg !== 'group') continue;
    const m = /epoch (\d+)/.exec(String(e.state));
    if (!m) continue;
    const g = String(e.group);
    const epoch = Number(m[1]);
    if (last.has(g) && epoch > last.get(g)!) out[g] = (out[g] ?? 0) + epoch - last.get(g)!;
    last.set(g, Math.max(epoch, last.get(g) ?? 0));
  }
  return out;
}

function writeReport(out: string, h: History, extra: Record<string, unknown>): { report: Report; reportFile: string } {
  const report = check(h.events);
  const notes = (msg: string) => h.events.filter((e) => e.type === 'note' && e.msg === msg);
  // Copies missing at the end of the first drain that only came after the nudge: stuck, not gone.
  const stuck = h.events.find((e): e is NoteEvent & { t: number } => e.type === 'note' && e.msg === 'stuck');
  const nudged = h.events.find((e) => e.type === 'note' && e.msg === 'nudged');
  const held = h.events.find((e): e is NoteEvent & { t: number } => e.type === 'note' && e.msg === 'sessions');
  let arrivedAfterNudge: number | undefined;
  if (stuck && nudged) {
    const was = new Set((stuck.missing as string[]).map((x) => x.split('@')[0]));
    arrivedAfterNudge = new Set(h.events.filter((e) => e.type === 'deliver' && e.t >= nudged.t && was.has(e.id)).map((e) => (e as { id: string }).id)).size;
  }
  extra = { ...extra, ...(stuck ? { missingAfterDrain: (stuck.missing as string[]).length, arrivedAfterNudge } : {}), ...(held ? { sessionsWhenStuck: held.groups } : {}), epochChanges: epochChanges(h), diedByThemselves: notes('died by itself'), notHealthy: notes('not healthy'), faultsFailed: notes('fault failed'), zookeeper: [...notes('zookeeper quorum lost'), ...notes('zookeeper quorum back')] };
  const reportFile = join(out, 'report.json');
  writeFileSync(reportFile, JSON.stringify({ ...extra, ...report }, null, 2) + '\n');
  return { report, reportFile };
}

/** The whole run on a private Hawser deployment; always stops what it started. */
export function runLocal(o: LocalRunOptions): Promise<RunResult> {
  return runChaos(o, async (h, log) => {
    const topo = await LocalTopology.start({ ...o.topology, log });
    return { system: topo, nemesis: new Nemesis(topo, h), sessions: () => masterSessions(topo.groups) };
  });
}

/** A run on the System `boot` starts: workload, the seeded faults, drain, checker; always stops what it started. */
/**
 * What `boot` starts: the system, its nemesis, and (optional) who holds what on each master
 * (Admin.Sessions per destination: sessions.ts), written down when messages are stuck.
 */
export interface Booted { system: System; nemesis: FaultInjector; sessions?: () => Promise<Record<string, unknown>> }

export async function runChaos(o: ChaosRunOptions, boot: (h: History, log: (m: string) => void) => Promise<Booted>): Promise<RunResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(`[chaos] ${m}\n`));
  mkdirSync(o.out, { recursive: true });
  const historyFile = join(o.out, 'history.jsonl');
  const h = new History(historyFile);
  const rng = new Rng(o.seed);
  const t0 = Date.now();
  let topo: System | undefined;
  let nemesis: FaultInjector | undefined;
  let sessions: Booted['sessions'];
  let stopWatch = () => undefined as void;
  const onExit = () => topo?.exitHook();
  process.once('exit', onExit);
  // Ctrl-C / SIGTERM: take the faults back and stop everything before leaving.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping what the run started`);
    void (async () => {
      stopWatch();
      await nemesis?.takeBackAll().catch(() => undefined);
      await topo?.close().catch(() => undefined);
      process.exit(130);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    ({ system: topo, nemesis, sessions } = await boot(h, log));
    h.add({ type: 'note', msg: 'topology', detail: topo.describe(), seed: o.seed });
    stopWatch = topo.watch(h);
    const kinds = nemesis.available(o.kinds ?? FAULT_KINDS);
    if (kinds.length === 0) throw new Error(`none of the fault kinds asked for (${(o.kinds ?? FAULT_KINDS).join(', ')}) can run on ${topo.describe()}`);
    const plan = planFaults(rng.fork(1), o.cycles, kinds);
    const wl = new Workload(topo.paths(), h, rng.fork(2), { ...o, prefix: o.prefix ?? `chaos.${o.seed}.${Date.now().toString(36)}` });
    await wl.start(log);
    await sleep(o.warmMs ?? 3000);
    for (const p of plan) {
      const c0 = Date.now();
      try {
        const r = await nemesis.run(p);
        log(`cycle ${p.cycle}/${plan.length}: ${p.kind} ${r.target}${r.note ? ` — ${r.note}` : ''}`);
      } catch (e) {
        h.add({ type: 'note', msg: 'fault failed', cycle: p.cycle, kind: p.kind, error: (e as Error).message });
        log(`cycle ${p.cycle}: ${p.kind} FAILED to run: ${(e as Error).message}`);
        await nemesis.takeBackAll();
      }
      const died = await nemesis.repair(p.cycle);
      if (died.length) log(`cycle ${p.cycle}: died by themselves (restarted): ${died.join(', ')}`);
      try {
        await topo.waitHealthy(60_000);
      } catch (e) {
        h.add({ type: 'note', msg: 'not healthy', cycle: p.cycle, error: (e as Error).message });
        log(`cycle ${p.cycle}: not healthy after 60 s: ${(e as Error).message}`);
      }
      h.add({ type: 'note', msg: 'healthy', cycle: p.cycle, ms: Date.now() - c0 });
      await sleep(p.gapMs);
    }
    const sys = topo;
    // Still missing after the drain: first who holds what on each master (a session that
    // outlived its client names itself here: docs/reliability.md D8), then the system's own
    // note (depths) and nudge.
    const onStuck = sys.unstick || sessions ? async (missing: string[]) => {
      if (sessions) {
        const groups = await sessions();
        h.add({ type: 'note', msg: 'sessions', missing: missing.length, groups });
        for (const line of describeSessions(groups)) log(`stuck: ${line}`);
      }
      await sys.unstick?.(h, missing);
    } : undefined;
    await wl.stop(o.drainMs ?? 60_000, log, onStuck);
    await h.close();
    const { report, reportFile } = writeReport(o.out, h, { seed: o.seed, cycles: o.cycles, plan: plan.map((p) => p.kind), topology: topo.describe(), dirs: topo.dirs(), elapsedMs: Date.now() - t0 });
    const deaths = h.events.filter((e) => e.type === 'note' && e.msg === 'died by itself').length;
    log(`${summarize(report)}\n  epoch changes during the run: ${JSON.stringify(epochChanges(h))}; processes that died by themselves: ${deaths}\n  history ${historyFile}, report ${reportFile}, ${Math.round((Date.now() - t0) / 1000)} s`);
    return { report, historyFile, reportFile, plan, seed: o.seed };
  } finally {
    stopWatch();
    await nemesis?.takeBackAll().catch(() => undefined);
    await h.close().catch(() => undefined);
    await topo?.close();
    process.removeListener('exit', onExit);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

export interface WorkloadRunOptions extends WorkloadOptions {
  paths: Path[];
  seed: number;
  /** How long to produce (ms). */
  durationMs: number;
  out: string;
  log?: (m: string) => void;
}

/** The workload alone against an existing deployment (the operator injects the faults). */
export async function runWorkload(o: WorkloadRunOptions): Promise<RunResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(`[chaos] ${m}\n`));
  mkdirSync(o.out, { recursive: true });
  const historyFile = join(o.out, 'history.jsonl');
  const h = new History(historyFile);
  try {
    const wl = new Workload(o.paths, h, new Rng(o.seed).fork(2), { ...o, prefix: o.prefix ?? `chaos.${o.seed}.${Date.now().toString(36)}` });
    await wl.start(log);
    await sleep(o.durationMs);
    await wl.stop(o.drainMs ?? 60_000, log);
    await h.close();
    const { report, reportFile } = writeReport(o.out, h, { seed: o.seed, paths: o.paths });
    log(summarize(report));
    return { report, historyFile, reportFile, plan: [], seed: o.seed };
  } finally {
    await h.close().catch(() => undefined);
  }
}
