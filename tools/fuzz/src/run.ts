// One fuzz run: a witness per STOMP URI, then `concurrency` connections at a time throwing
// generated, mutated and garbage frames at the gateways until `frames` frames were written,
// beside a few WebSocket and gRPC connections of garbage; progress lines; then the witness
// drained, the fuzz queues drained, and the checks: every process alive, every witness
// message exactly once, receipts never silent for longer than the bound, RSS growth bounded.
import { connect } from '@hawser/client';
import { Prng } from './prng';
import { ConnectionScript } from './script';
import { drive, type Target } from './stomp-driver';
import { driveWs } from './ws-driver';
import { driveGrpcCalls, driveGrpcRaw } from './grpc-driver';
import { newCounters, type FuzzCounters } from './stats';
import { sample, mb, gatewayErrorCodes, type Sample, type Watched } from './monitor';
import { Witness, type WitnessReport } from './witness';
import { QUEUE_POOL, poolQueue } from './values';
import { MqttScript, MQTT_CLIENT_ID_POOL, mqttClientId } from './mqtt-packets';
import { driveMqtt } from './mqtt-driver';
import { MqttWitness, discardMqttSessions } from './mqtt-witness';

export interface FuzzOptions {
  /** The protocol of the TCP fuzz and the witnesses: STOMP (default) or MQTT 3.1.1 (mqtt-packets.ts). */
  protocol?: 'stomp' | 'mqtt';
  /** URIs (stomp://host:port, or mqtt://host:port with protocol mqtt) of the gateways: fuzz targets, one witness each. */
  uris: string[];
  ws: Target[];
  grpc: Target[];
  /** gRPC method paths for the framing attacks (grpcMethodPaths()). */
  grpcPaths: string[];
  frames: number;
  /** Which kinds of fuzz traffic to send (default all three): the TCP fuzz (STOMP, or MQTT with `protocol`), the WebSocket ports, the gRPC ports. */
  traffic: ReadonlySet<Traffic>;
  /** Stop the fuzz after this many ms even if `frames` were not sent yet (required without the TCP fuzz). */
  durationMs?: number;
  seed: number;
  concurrency: number;
  wsConcurrency: number;
  grpcConcurrency: number;
  pids: number[];
  http: Target[];
  login?: string;
  passcode?: string;
  witnessIntervalMs: number;
  /** The witnesses' queue, `<name>.<n>` for the n-th URI (default a new name per run; a fixed one keeps a cluster under broker.maxDestinations across runs). */
  witnessQueue?: string;
  /** The longest a witness may go without a receipt (ms). */
  maxReceiptGapMs: number;
  /** End RSS may exceed start RSS by at most this many MB. */
  maxRssGrowthMb: number;
  /** RSS at the end of the fuzz may exceed RSS at its middle by at most this many MB: memory levels off (undefined: not checked). */
  maxRssLateGrowthMb?: number;
  /** End open file descriptors may exceed start by at most this many (PIDs only; undefined: reported, not checked). */
  maxFdGrowth?: number;
  progressMs: number;
  /** After the drain, watch the processes idle this long (ms) before the end figures: V8 gives back heap it no longer needs only when idle. */
  settleMs: number;
  closeWaitMs: number;
  /** Progress lines go here (stderr in the CLI). */
  log: (line: string) => void;
}

export type Traffic = 'tcp' | 'ws' | 'grpc';
export const TRAFFIC: readonly Traffic[] = ['tcp', 'ws', 'grpc'];

/** One watched process at one progress tick: what grows, if anything. */
export interface MemoryPoint {
  /** ms since the fuzz started. */
  atMs: number;
  frames: number;
  wsConnections: number;
  grpcConnections: number;
  processes: { name: string; rss?: number; heapUsed?: number; external?: number; handles?: number; fds?: number; heldMessages?: number; destinations?: number }[];
}

export interface RssFigures {
  name: string;
  source: string;
  start?: number;
  middle?: number;
  /** When the last fuzz connection closed (before the witnesses stop and the queues drain). */
  fuzzEnd?: number;
  end?: number;
  peak?: number;
  /** Open file descriptors at start, middle, end (PIDs only). */
  fds?: { start?: number; middle?: number; end?: number };
  /** A store's: messages its destinations hold at the end (sum of hawser_store_queue_depth), and its destinations — state that is not a leak. */
  held?: { messages: number; destinations: number };
}

export interface FuzzReport {
  seed: number;
  ok: boolean;
  failures: string[];
  durationMs: number;
  framesPerSecond: number;
  counters: FuzzCounters;
  witnesses: WitnessReport[];
  rss: RssFigures[];
  /** Every progress tick's memory figures (RSS, JS heap in use, external memory, handles, fds) of each watched process. */
  timeline: MemoryPoint[];
  /** Messages the fuzz left on the pool queues, drained at the end (MQTT: the pooled client ids whose sessions were discarded). */
  drained: number;
  /** ERROR frames the watched HTTP ports' gateways counted during the run, by their code (hawser_gateway_errors_total). */
  gatewayErrors: Record<string, number>;
  processes: Sample[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function targetOf(uri: string): Target {
  const m = /^(?:stomp|tcp|mqtt):\/\/\[?([^\]/]+?)\]?:(\d+)\/?$/.exec(uri);
  if (!m) throw new Error(`'${uri}': expected stomp://host:port or mqtt://host:port (the fuzzer speaks plain TCP to the gateway)`);
  return { host: m[1]!, port: Number(m[2]) };
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const c = newCounters();
  const failures: string[] = [];
  const root = new Prng(o.seed);
  const targets = o.uris.map(targetOf);
  const watched: Watched[] = [
    ...o.pids.map((pid) => ({ name: `pid ${pid}`, pid })),
    ...o.http.map((t) => ({ name: `http ${t.host}:${t.port}`, http: t })),
  ];
  const rss = new Map<string, RssFigures>();
  const timeline: MemoryPoint[] = [];
  const sampleAll = async (phase: 'start' | 'middle' | 'fuzzEnd' | 'end' | 'peak'): Promise<Sample[]> => {
    const samples = await Promise.all(watched.map((w) => sample(w)));
    timeline.push({
      atMs: Date.now() - started, frames: c.frames, wsConnections: c.ws.connections, grpcConnections: c.grpc.connections,
      processes: samples.map((s) => ({
        name: s.name, rss: s.rssBytes, heapUsed: s.heapUsedBytes, external: s.externalBytes, handles: s.handles, fds: s.fds, heldMessages: s.heldMessages, destinations: s.destinations,
      })),
    });
    for (const s of samples) {
      const f = rss.get(s.name) ?? { name: s.name, source: s.source };
      if (s.fds !== undefined && phase !== 'peak' && phase !== 'fuzzEnd') f.fds = { ...f.fds, [phase]: s.fds };
      if (phase === 'end' && s.heldMessages !== undefined) f.held = { messages: s.heldMessages, destinations: s.destinations ?? 0 };
      if (s.rssBytes !== undefined) {
        if (phase !== 'peak') f[phase] = s.rssBytes;
        f.peak = Math.max(f.peak ?? 0, s.rssBytes);
        if (f.source === 'none') f.source = s.source;
      }
      rss.set(s.name, f);
    }
    return samples;
  };

  const first = await sampleAll('start');
  const errorsBefore = await Promise.all(o.http.map((t) => gatewayErrorCodes(t)));
  for (const s of first) if (!s.alive) failures.push(`${s.name} is not alive before the fuzz (health ${s.health ?? '-'})`);
  if (failures.length > 0) return report();

  // The witnesses, on a queue (MQTT: a topic) of their own.
  const mqtt = o.protocol === 'mqtt';
  const witnesses = o.uris.map((uri, i) => (mqtt
    ? new MqttWitness({
      uri, topic: `fuzz-witness/${o.seed}/${i}/${Date.now().toString(36)}`, intervalMs: o.witnessIntervalMs,
      username: o.login, password: o.passcode, receiptTimeoutMs: o.maxReceiptGapMs * 2,
    })
    : new Witness({
      uri, queue: `${o.witnessQueue ?? `/queue/fuzz-witness.${o.seed}`}.${i}${o.witnessQueue ? '' : `.${Date.now().toString(36)}`}`, intervalMs: o.witnessIntervalMs,
      login: o.login, passcode: o.passcode, receiptTimeoutMs: o.maxReceiptGapMs * 2,
    })));
  try {
    await Promise.all(witnesses.map((w) => w.start()));
  } catch (e) {
    failures.push(`a witness could not connect: ${(e as Error).message}`);
    return report();
  }

  let stop = false;
  let middleTaken = false;
  let died: string | undefined;
  const gen = { login: o.login, passcode: o.passcode };
  const drive0 = { closeWaitMs: o.closeWaitMs, drainWaitMs: o.closeWaitMs };

  // STOMP over TCP: workers take connection numbers in turn until enough frames went out.
  let nextConn = 0;
  const deadline = o.durationMs === undefined ? Infinity : started + o.durationMs;
  /** How far the fuzz is, 0..1: by frames, or by time (whichever is further with both). */
  const progress = () => Math.max(o.traffic.has('tcp') ? c.frames / o.frames : 0, o.durationMs === undefined ? 0 : (Date.now() - started) / o.durationMs);
  const stompWorker = async () => {
    while (!stop && c.frames < o.frames && Date.now() < deadline) {
      const n = nextConn++;
      const budget = Math.max(1, o.frames - c.frames);
      if (mqtt) await driveMqtt(targets[n % targets.length]!, new MqttScript(root.fork(n), budget, { username: o.login, password: o.passcode }), c, drive0);
      else await drive(targets[n % targets.length]!, new ConnectionScript(root.fork(n), budget, gen), c, drive0);
      if (c.connections === 0 && c.connectFailures > 20) { died = 'every connection to the gateways was refused'; stop = true; }
    }
  };
  let nextWs = 0;
  const wsWorker = async (t: Target) => {
    while (!stop) await driveWs(root.fork(2_000_000_000 + nextWs++), t, c, { closeWaitMs: o.closeWaitMs, maxFrames: 200, gen });
  };
  let nextGrpc = 0;
  const grpcWorker = async (t: Target) => {
    while (!stop) {
      const n = nextGrpc++;
      const rng = root.fork(3_000_000_000 + n);
      // Raw HTTP/2 junk and malformed gRPC calls take turns (not a coin flip per connection: a
      // short run's handful of connections all came out raw once in a CI run, no call at all).
      if (n % 2 === 0) await driveGrpcRaw(rng, t, c, o.closeWaitMs);
      else await driveGrpcCalls(rng, t, o.grpcPaths, c, o.closeWaitMs);
    }
  };

  const ticker = setInterval(() => { void tick(); }, o.progressMs);
  let ticking = false;
  async function tick(): Promise<void> {
    if (ticking) return;
    ticking = true;
    try {
      const phase = !middleTaken && progress() >= 0.5 ? 'middle' : 'peak';
      if (phase === 'middle') middleTaken = true;
      const samples = await sampleAll(phase);
      for (const s of samples) if (!s.alive && !died) { died = `${s.name} died during the fuzz (health ${s.health ?? '-'})`; stop = true; }
      const secs = (Date.now() - started) / 1000;
      const errs = Object.values(c.errors).reduce((a, b) => a + b, 0);
      o.log(`[fuzz] ${Math.round(secs)} s: ${c.frames.toLocaleString('en')}/${o.frames.toLocaleString('en')} frames, ${c.connections.toLocaleString('en')} conns, `
        + `${Math.round(c.frames / secs).toLocaleString('en')} frames/s, ${errs.toLocaleString('en')} ERRORs; ws ${c.ws.connections} grpc ${c.grpc.connections}; `
        + `witness ${witnesses.map((w) => `${w.receipts} receipts (max gap ${w.currentMaxGapMs} ms)`).join(', ')}; `
        + `rss ${samples.map((s) => `${s.name} ${mb(s.rssBytes)}${s.heapUsedBytes === undefined ? '' : ` (heap ${mb(s.heapUsedBytes)}, external ${mb(s.externalBytes)}, handles ${s.handles ?? '?'})`}`).join(', ')}`);
      for (const w of witnesses) if (w.currentMaxGapMs > o.maxReceiptGapMs && !died) o.log(`[fuzz] witness silent for ${w.currentMaxGapMs} ms (bound ${o.maxReceiptGapMs} ms)`);
    } finally {
      ticking = false;
    }
  }

  const stompDone = o.traffic.has('tcp')
    ? Promise.all(Array.from({ length: o.concurrency }, () => stompWorker()))
    : (async () => { while (!stop && Date.now() < deadline) await sleep(Math.min(200, Math.max(0, deadline - Date.now()))); })();
  const others = [
    ...(o.traffic.has('ws') ? o.ws : []).flatMap((t) => Array.from({ length: o.wsConcurrency }, () => wsWorker(t))),
    ...(o.traffic.has('grpc') ? o.grpc : []).flatMap((t) => Array.from({ length: o.grpcConcurrency }, () => grpcWorker(t))),
  ];
  await stompDone;
  stop = true;
  await Promise.all(others);
  const fuzzMs = Date.now() - started;
  clearInterval(ticker);
  while (ticking) await sleep(50);
  if (!middleTaken) { await sampleAll('middle'); middleTaken = true; }
  await sampleAll('fuzzEnd');
  if (died) failures.push(died);

  const witnessReports = await Promise.all(witnesses.map((w) => w.stop(30_000)));
  for (const w of witnessReports) {
    for (const e of w.errors) failures.push(e);
    if (w.missing > 0) failures.push(`witness on ${w.uri}: ${w.missing} of ${w.receipted} receipted messages never came`);
    if (w.duplicates > 0) failures.push(`witness on ${w.uri}: ${w.duplicates} messages came twice`);
    if (w.maxGapMs > o.maxReceiptGapMs) failures.push(`witness on ${w.uri}: no receipt for ${w.maxGapMs} ms (bound ${o.maxReceiptGapMs} ms)`);
    if (w.receipted === 0) failures.push(`witness on ${w.uri}: no receipt at all`);
  }

  // What the fuzz left on its queues, so the end RSS is of a broker that holds nothing of it.
  let drained = 0;
  if (!died) {
    try {
      drained = mqtt
        ? await discardMqttSessions(o.uris[0]!, Array.from({ length: MQTT_CLIENT_ID_POOL }, (_, i) => mqttClientId(i)), o.login, o.passcode)
        : await drainPool(o.uris[0]!, o);
    } catch (e) { failures.push(`draining the fuzz ${mqtt ? 'sessions' : 'queues'} failed: ${(e as Error).message}`); }
  }
  await sleep(1000);
  for (const until = Date.now() + o.settleMs; Date.now() < until;) {
    await sampleAll('peak');
    await sleep(Math.min(o.progressMs, Math.max(0, until - Date.now())));
  }
  const last = await sampleAll('end');
  const errorsAfter = await Promise.all(o.http.map((t) => gatewayErrorCodes(t)));
  const gatewayErrors: Record<string, number> = {};
  errorsAfter.forEach((after, i) => {
    for (const [code, n] of Object.entries(after)) {
      const d = n - (errorsBefore[i]?.[code] ?? 0);
      if (d > 0) gatewayErrors[code] = (gatewayErrors[code] ?? 0) + d;
    }
  });
  for (const s of last) if (!s.alive) failures.push(`${s.name} is not alive after the fuzz (health ${s.health ?? '-'})`);
  for (const f of rss.values()) {
    if (f.start !== undefined && f.end !== undefined && f.end > f.start + o.maxRssGrowthMb * 1048576) {
      failures.push(`${f.name}: RSS grew from ${mb(f.start)} to ${mb(f.end)} (bound: start + ${o.maxRssGrowthMb} MB)`);
    }
    if (o.maxRssLateGrowthMb !== undefined && f.middle !== undefined && f.fuzzEnd !== undefined && f.fuzzEnd > f.middle + o.maxRssLateGrowthMb * 1048576) {
      failures.push(`${f.name}: RSS still grew in the second half of the fuzz, from ${mb(f.middle)} to ${mb(f.fuzzEnd)} (bound: middle + ${o.maxRssLateGrowthMb} MB)`);
    }
    const fd = f.fds;
    if (o.maxFdGrowth !== undefined && fd?.start !== undefined && fd.end !== undefined && fd.end > fd.start + o.maxFdGrowth) {
      failures.push(`${f.name}: open file descriptors grew from ${fd.start} to ${fd.end} after every fuzz connection closed (bound: start + ${o.maxFdGrowth})`);
    }
  }
  if (c.badServerOutput > 0) failures.push(`the server sent bytes that are not ${mqtt ? 'MQTT' : 'STOMP'} ${c.badServerOutput} times: ${c.badServerSamples.join(' | ')}`);
  return report(fuzzMs, witnessReports, drained, last, gatewayErrors);

  function report(fuzzMs = Date.now() - started, ws: WitnessReport[] = [], drainedCount = 0, processes: Sample[] = first, gwErrors: Record<string, number> = {}): FuzzReport {
    return {
      seed: o.seed, ok: failures.length === 0, failures, durationMs: fuzzMs,
      framesPerSecond: Math.round(c.frames / Math.max(fuzzMs / 1000, 0.001)), counters: c, witnesses: ws,
      rss: [...rss.values()], timeline, drained: drainedCount, processes, gatewayErrors: gwErrors,
    };
  }
}

/** Subscribes to every pool queue and takes what is there until 1 s passes without a message. */
async function drainPool(uri: string, o: FuzzOptions): Promise<number> {
  const client = await connect(uri, { login: o.login, passcode: o.passcode });
  let n = 0;
  try {
    const subs = await Promise.all(Array.from({ length: QUEUE_POOL }, (_, i) => client.subscribe(poolQueue(i), { ack: 'auto' })));
    const deadline = Date.now() + 120_000;
    let quietSince = Date.now();
    while (Date.now() - quietSince < 1500 && Date.now() < deadline) {
      await sleep(250);
      let k = 0;
      for (const s of subs) while (s.buffered > 0) { await s.next(); k++; }
      if (k > 0) { n += k; quietSince = Date.now(); }
    }
  } finally {
    await client.disconnect().catch(() => client.destroy());
  }
  return n;
}
