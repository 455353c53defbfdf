// `hawser bench`: P producers and C consumers over their own STOMP connections, against
// any STOMP 1.1/1.2 broker (Hawser, ActiveMQ, RabbitMQ). Only standard STOMP is used:
// SEND with a receipt header, SUBSCRIBE with ack client-individual or auto, ACK; plus the
// brokers' prefetch headers (activemq.prefetchSize, RabbitMQ's prefetch-count) and
// `persistent:true` (ActiveMQ's and RabbitMQ's convention).
//
// Every message carries `bench-id: bench-<run>-<producer>-<n>` and `bench-ts: <send time>`:
// consumers check every id (lost, duplicates) and measure send->delivery; producers
// measure send->receipt. The hot path keeps W SENDs in flight per producer without a
// promise chain per window slot, and acks without receipts.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AckMode, Subscription } from '@hawser/client';
import { UsageError, OperationError } from './errors';
import {
  benchId, benchText, Latencies, Ledger, parseBenchId, progressLine, throughput, type BenchResult, type BenchSettings,
} from './bench-stats';
import { connectWith, STOMP_OPTIONS, type BrokerClient, type Command, type Io } from './io';
import type { ParsedArgs } from './args';

export const BENCH_ID_HEADER = 'bench-id';
export const BENCH_TS_HEADER = 'bench-ts';
/** The stderr line `--warmup` ends with (its own line). */
export const WARMED_UP = 'bench: warm-up over, measuring';

/** Wall-clock ms with sub-ms precision (same clock in producers and consumers: one process). */
const now = (): number => performance.timeOrigin + performance.now();

interface BenchConfig extends BenchSettings {
  /** Total SENDs per second over all producers (0 = as fast as the window allows). */
  rate: number;
  ack: AckMode;
  drainTimeoutMs: number;
  json: boolean;
}

function config(args: ParsedArgs): BenchConfig {
  if (args.has('count') && args.has('duration')) throw new UsageError('give --count or --duration, not both', 'bench');
  const producers = args.int('producers')!;
  const consumers = args.int('consumers')!;
  if (producers === 0 && consumers === 0) throw new UsageError('nothing to do: --producers and --consumers are both 0', 'bench');
  if (producers === 0) throw new UsageError('--producers must be at least 1 (consumers check the ids producers send)', 'bench');
  const duration = args.int('duration');
  const warmup = args.int('warmup') ?? 0;
  if (warmup > 0 && duration === undefined) throw new UsageError('--warmup needs --duration (the warm-up is time, before the measured seconds)', 'bench');
  return {
    uri: args.str('uri')!,
    destination: args.str('destination')!,
    producers,
    consumers,
    size: args.int('size')!,
    persistent: args.bool('persistent'),
    window: args.int('window')!,
    rate: args.int('rate') ?? 0,
    ack: args.str('ack') as AckMode,
    prefetch: args.int('prefetch')!,
    count: duration !== undefined ? null : args.int('count')!,
    durationS: duration ?? null,
    warmupS: warmup,
    drainTimeoutMs: args.int('drain-timeout')!,
    json: args.bool('json'),
  };
}

/** Shared state of one run. */
class Run {
  readonly id = randomBytes(4).toString('hex');
  readonly started = now();
  readonly sendLatency = new Latencies();
  readonly deliveryLatency = new Latencies();
  /** A queue: one ledger. A topic: one per consumer (each gets every message). */
  readonly ledgers: Ledger[];
  sent = 0;
  receipted = 0;
  /** Sends from here on are measured (after --warmup); set when the producers start. */
  measureFrom = 0;
  /** Receipts and first deliveries of measured sends. */
  measuredReceipted = 0;
  measuredReceived = 0;
  failedSends = 0;
  stale = 0;
  lastReceipt = 0;
  lastDelivery = 0;
  producersDone = false;
  stopConsumers = false;
  /** Ctrl-C: stop sending, report what was measured so far. */
  interrupted = false;
  readonly errors: string[] = [];

  constructor(readonly cfg: BenchConfig) {
    const isTopic = cfg.destination.startsWith('/topic/');
    this.ledgers = Array.from({ length: isTopic ? Math.max(1, cfg.consumers) : 1 }, () => new Ledger());
  }

  get received(): number { return this.ledgers.reduce((s, l) => s + l.received, 0); }
  get pending(): number { return this.ledgers.reduce((s, l) => s + l.pending, 0); }
  get duplicates(): number { return this.ledgers.reduce((s, l) => s + l.duplicates, 0); }

  error(what: string, err: unknown): void {
    const msg = `${what}: ${(err as Error)?.message ?? String(err)}`;
    if (this.errors.length < 10 && !this.errors.includes(msg)) this.errors.push(msg);
  }
}

/** Sends this producer's share, keeping at most `window` SENDs waiting for a RECEIPT. */
async function produce(run: Run, p: number, client: BrokerClient, body: Buffer, quota: number | null, deadline: number | null): Promise<void> {
  const { destination, window, persistent } = run.cfg;
  // --rate: this producer's share, paced against its start (catching up after a stall, in
  // bursts of at most 1 ms of sends: timers are ms-grained).
  const perMs = run.cfg.rate > 0 ? run.cfg.rate / run.cfg.producers / 1000 : 0;
  const paceStart = now();
  let inFlight = 0;
  let wake: (() => void) | undefined;
  // A plain connection that closed fails every later SEND; a failover one closes only when
  // it gives up. Either way: stop sending.
  let dead = false;
  void client.waitClosed().then(() => { dead = true; });
  const release = () => {
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  for (let n = 0; ; n++) {
    if (quota !== null ? n >= quota : now() >= deadline!) break;
    while (inFlight >= window && !dead) await new Promise<void>((r) => { wake = r; });
    if (dead || run.interrupted) break;
    if (perMs > 0) {
      const due = paceStart + n / perMs;
      const ahead = due - now();
      if (ahead >= 1) await new Promise<void>((r) => setTimeout(r, ahead));
      if (dead || run.interrupted) break;
    }
    const t0 = now();
    const headers: Record<string, string> = { [BENCH_ID_HEADER]: benchId(run.id, p, n), [BENCH_TS_HEADER]: t0.toFixed(3) };
    if (persistent) headers['persistent'] = 'true';
    inFlight++;
    run.sent++;
    client.send(destination, body, { headers }).then(() => {
      const t = now();
      if (t0 >= run.measureFrom) {
        run.sendLatency.add(t - t0);
        run.measuredReceipted++;
      }
      run.receipted++;
      run.lastReceipt = t;
      for (const l of run.ledgers) l.receipted(p, n);
      release();
    }, (err) => {
      run.failedSends++;
      run.error(`producer ${p}`, err);
      release();
    });
    // Let the socket and the receipts breathe now and then in a long synchronous burst.
    if (window > 1 && (n & 255) === 255) await new Promise<void>((r) => setImmediate(r));
  }
  while (inFlight > 0) await new Promise<void>((r) => { wake = r; });
}

/** Takes messages until told to stop; checks ids, measures send->delivery, acks. */
async function consume(run: Run, c: number, sub: Subscription): Promise<void> {
  const ledger = run.ledgers[run.ledgers.length === 1 ? 0 : c]!;
  const individual = run.cfg.ack === 'client-individual';
  while (!run.stopConsumers) {
    const m = await sub.tryNext(100);
    if (!m) {
      if (sub.closed) { run.error(`consumer ${c}`, new Error('subscription ended (connection closed)')); return; }
      continue;
    }
    const t = now();
    if (individual) m.ack({ receipt: false }).catch((err) => run.error(`consumer ${c} ack`, err));
    const id = parseBenchId(m.headers[BENCH_ID_HEADER], run.id);
    if (!id) { run.stale++; continue; }
    if (ledger.delivered(id[0], id[1])) {
      const ts = Number(m.headers[BENCH_TS_HEADER]);
      if (Number.isFinite(ts) && ts >= run.measureFrom) {
        run.deliveryLatency.add(t - ts);
        run.measuredReceived++;
      }
      run.lastDelivery = t;
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function runBench(cfg: BenchConfig, args: ParsedArgs, io: Io): Promise<BenchResult> {
  const run = new Run(cfg);
  const body = Buffer.alloc(cfg.size, 'x');
  const clients: BrokerClient[] = [];
  const closeAll = () => Promise.all(clients.map((c) => c.disconnect({ timeoutMs: 2000 }).catch(() => undefined)));
  let progress: NodeJS.Timeout | undefined;
  // First Ctrl-C: finish with a report of what was measured; a second one kills as usual.
  const onSigint = () => { run.interrupted = true; io.err('\nbench: interrupted, reporting what was measured\n'); };
  process.once('SIGINT', onSigint);
  try {
    // Consumers first, subscribed (with a receipt) before anything is sent.
    const consumerClients = await Promise.all(Array.from({ length: cfg.consumers }, () => connectWith(args)));
    clients.push(...consumerClients);
    const subs = await Promise.all(consumerClients.map((client) => client.subscribe(cfg.destination, {
      ack: cfg.ack,
      prefetch: cfg.prefetch,
      headers: { 'prefetch-count': cfg.prefetch }, // RabbitMQ's name for the same limit
    })));
    const producerClients = await Promise.all(Array.from({ length: cfg.producers }, () => connectWith(args)));
    clients.push(...producerClients);

    const started = now();
    run.measureFrom = started + cfg.warmupS * 1000;
    const tick = () => {
      const line = progressLine(now() - started, run.sent, run.receipted, run.received, cfg.consumers);
      io.err(io.stderrIsTTY ? `\r${line}\x1b[K` : `${line}\n`);
    };
    progress = setInterval(tick, io.stderrIsTTY ? 500 : 2000);
    // Said on stderr when the measured part starts: a tool reading other processes' CPU
    // (tools/bench/dist/cpu.js) takes its first sample here.
    const warmedUp = cfg.warmupS > 0 ? setTimeout(() => io.err(`${io.stderrIsTTY ? '\n' : ''}${WARMED_UP}\n`), cfg.warmupS * 1000) : undefined;
    warmedUp?.unref();

    const consumers = subs.map((sub, c) => consume(run, c, sub));
    const deadline = cfg.durationS !== null ? run.measureFrom + cfg.durationS * 1000 : null;
    const quotas = Array.from({ length: cfg.producers }, (_, p) =>
      cfg.count === null ? null : Math.floor(cfg.count / cfg.producers) + (p < cfg.count % cfg.producers ? 1 : 0));
    await Promise.all(producerClients.map((client, p) => produce(run, p, client, body, quotas[p]!, deadline)));
    const producedAt = run.lastReceipt || now();
    run.producersDone = true;

    // Drain: until every receipted message was delivered, or nothing came for a while.
    if (cfg.consumers > 0) {
      let lastCount = -1;
      let lastChange = now();
      while (run.pending > 0 && !run.interrupted) {
        const received = run.received + run.duplicates + run.stale;
        if (received !== lastCount) { lastCount = received; lastChange = now(); }
        if (now() - lastChange > cfg.drainTimeoutMs) break;
        if (subs.every((s) => s.closed)) break;
        await sleep(20);
      }
    }
    run.stopConsumers = true;
    await Promise.all(consumers);
    clearTimeout(warmedUp);
    clearInterval(progress);
    progress = undefined;
    if (io.stderrIsTTY) { tick(); io.err('\n'); }

    const { drainTimeoutMs: _drain, json: _json, ...settings } = cfg;
    return {
      run: run.id,
      ...settings,
      rate: cfg.rate || null,
      sent: run.sent,
      receipted: run.receipted,
      failedSends: run.failedSends,
      received: run.received,
      duplicates: run.duplicates,
      lost: cfg.consumers > 0 ? run.pending : null,
      stale: run.stale,
      errors: run.errors,
      interrupted: run.interrupted,
      // Without a warm-up every message counts (also one whose bench-ts a broker mangled).
      producer: throughput(cfg.warmupS ? run.measuredReceipted : run.receipted, cfg.size, producedAt - run.measureFrom),
      consumer: cfg.consumers > 0 ? throughput(cfg.warmupS ? run.measuredReceived : run.received, cfg.size, (run.lastDelivery || now()) - run.measureFrom) : null,
      latencyMs: { sendToReceipt: run.sendLatency.summary(), sendToDelivery: run.deliveryLatency.summary() },
    };
  } finally {
    process.off('SIGINT', onSigint);
    if (progress) clearInterval(progress);
    await closeAll();
  }
}

export const bench: Command = {
  spec: {
    name: 'bench',
    summary: 'Measure a STOMP broker: throughput, send->receipt and send->delivery latency, lost and duplicate messages.',
    positionals: [],
    options: [
      ...STOMP_OPTIONS,
      { name: 'producers', type: 'int', default: 1, min: 0, arg: 'P', help: 'producer connections' },
      { name: 'consumers', type: 'int', default: 1, min: 0, arg: 'C', help: 'consumer connections' },
      { name: 'size', type: 'int', default: 1024, min: 0, arg: 'bytes', help: 'message body size' },
      { name: 'persistent', type: 'bool', help: 'send persistent:true' },
      { name: 'window', type: 'int', default: 1, min: 1, arg: 'W', help: 'SENDs in flight per producer (1 = wait for each RECEIPT)' },
      { name: 'rate', type: 'int', min: 1, arg: 'msg/s', help: 'pace the SENDs at this many per second in total (latency at a given load; default: as fast as the window allows)' },
      { name: 'count', type: 'int', default: 10000, min: 1, arg: 'N', help: 'messages in total, split over the producers' },
      { name: 'duration', type: 'int', min: 1, arg: 'S', help: 'send for S seconds instead of --count' },
      { name: 'warmup', type: 'int', min: 0, arg: 'S', help: 'with --duration: send for S seconds first, not measured (this process\'s and the broker\'s JIT warm up); lost and duplicates still count every message' },
      { name: 'destination', type: 'string', default: '/queue/bench', arg: 'dest', help: 'queue (or topic: every consumer gets every message)' },
      { name: 'ack', type: 'string', default: 'client-individual', values: ['auto', 'client-individual'], help: 'consumer ack mode' },
      { name: 'prefetch', type: 'int', default: 1000, min: 1, arg: 'N', help: 'unacked messages the broker may push per consumer' },
      { name: 'drain-timeout', type: 'int', default: 10000, min: 1, arg: 'ms', help: 'after the producers finish, stop waiting when nothing arrives for this long' },
      { name: 'json', type: 'bool', help: 'print the result as JSON (shape in tools/cli/README.md)' },
    ],
    details: 'Progress goes to stderr (redrawn on a terminal, every 2 s otherwise); the result to stdout.\n'
      + 'Messages left on the destination by earlier runs are drained and counted as "stale".\n'
      + 'Exit status: 0 when nothing was lost and every SEND was receipted, 1 otherwise,\n'
      + '2 usage error, 3 broker unreachable.',
    examples: [
      'hawser bench --persistent --window 64 --count 50000',
      'hawser bench --producers 4 --consumers 4 --persistent --duration 30 --json',
      'hawser bench --uri stomp://127.0.0.1:61700   # ActiveMQ, see hawser activemq',
    ],
  },
  async run(args, io) {
    const cfg = config(args);
    const result = await runBench(cfg, args, io);
    io.out(cfg.json ? `${JSON.stringify(result, null, 2)}\n` : benchText(result));
    if (result.interrupted) throw new OperationError('interrupted');
    if ((result.lost ?? 0) > 0 || result.failedSends > 0) {
      throw new OperationError(`${result.lost ?? 0} lost, ${result.failedSends} failed sends${result.errors[0] ? ` (${result.errors[0]})` : ''}`);
    }
    return 0;
  },
};
