#!/usr/bin/env node
// MQTT 3.1.1 QoS 1 publish throughput and latency (issue 11): Hawser's MQTT listeners beside
// ActiveMQ 5.17's MQTT connector and Debian's Mosquitto, in ONE run, each system alone on the
// machine while it is measured (started, measured, stopped), in alternating rounds (the order
// reversed every other round) so the spread shows.
//
// One cell: a subscriber with a persistent session (clean=false, so the broker stores what it
// owes it) subscribed at QoS 1 to a fresh topic; one publisher keeping `window` QoS 1 PUBLISHes
// awaiting their PUBACK (the receipt per message) of 1 KiB payloads for --duration seconds;
// then a drain until everything PUBACKed was delivered or nothing came for 10 s. Both are npm
// `mqtt` (mqtt.js) clients in this process. Each payload starts with `<n>\n<send time>\n`, so
// the subscriber counts lost (PUBACKed, never delivered) and duplicated messages.
//
//   node tools/bench/dist/mqtt.js [--duration 10] [--rounds 3] [--window 64] [--warmup 30]
//        [--systems embedded,standalone,quorum_mem_master,embedded_disk,activemq,mosquitto] [--json]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { Cluster } from '@hawser/integration/dist/cluster';
import { Harness, freePort } from '@hawser/integration/dist/harness';
import { eachOption, numberOption, usageExit, UsageError } from './args';
import { runCli } from './compare';
import { median } from './stats';

export const SYSTEMS = ['embedded', 'standalone', 'quorum_mem_master', 'embedded_disk', 'activemq', 'mosquitto', 'quorum_mem', 'activemq_nagle', 'mosquitto_nagle'] as const;
export type System = typeof SYSTEMS[number];
/**
 * What a run measures unless --systems says otherwise. Hawser's listeners set TCP_NODELAY, so
 * `activemq` and `mosquitto` run with it too (transport.tcpNoDelay=true, set_tcp_nodelay true);
 * `*_nagle` are the two as shipped (Nagle's algorithm on), on request, as is `quorum_mem`.
 */
export const DEFAULT_SYSTEMS: System[] = ['embedded', 'standalone', 'quorum_mem_master', 'embedded_disk', 'activemq', 'mosquitto'];

export const LABEL: Record<System, string> = {
  embedded: 'Hawser standalone, embedded gateway',
  standalone: 'Hawser standalone, separate gateway',
  quorum_mem_master: 'Hawser group of 3, quorum_mem, client on the master node',
  embedded_disk: 'Hawser standalone, embedded gateway, sync=quorum_disk (fsync)',
  quorum_mem: 'Hawser group of 3, quorum_mem, separate gateway',
  activemq: 'ActiveMQ 5.17 MQTT connector (KahaDB), tcpNoDelay',
  mosquitto: 'Mosquitto (persistence true), set_tcp_nodelay',
  activemq_nagle: 'ActiveMQ 5.17 MQTT connector (KahaDB), as shipped (Nagle on)',
  mosquitto_nagle: 'Mosquitto (persistence true), as shipped (Nagle on)',
};

/** A store's embedded gateway with its MQTT listener on a free port, anonymous clients. */
const EMBEDDED_MQTT = ['--gateway.enabled', 'true', '--gateway.auth.anonymous', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0', '--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', '0'];
const GATEWAY_MQTT = ['--mqtt.enabled', 'true', '--mqtt.port', '0'];

export interface Options { duration: number; rounds: number; window: number; size: number; warmup: number; clientNoDelay: boolean; systems: System[]; json: boolean }

const USAGE = `usage: node tools/bench/dist/mqtt.js [--duration S=10] [--rounds N=3] [--window W=64] [--size B=1024] [--warmup S=30] [--client-nodelay true|false] [--json]
       [--systems ${DEFAULT_SYSTEMS.join(',')}] (also: quorum_mem, activemq_nagle, mosquitto_nagle)`;

export function parseArgs(argv: string[]): Options {
  const o: Options = { duration: 10, rounds: 3, window: 64, size: 1024, warmup: 30, clientNoDelay: true, systems: [...DEFAULT_SYSTEMS], json: false };
  o.json = eachOption(argv, USAGE, (name, v, a) => {
    if (name === 'duration') o.duration = numberOption(a, v, { what: 'a number of seconds' });
    else if (name === 'warmup') o.warmup = numberOption(a, v, { zero: true, what: 'a number of seconds' });
    else if (name === 'rounds' || name === 'window') o[name] = numberOption(a, v, { integer: true });
    else if (name === 'size') {
      o.size = numberOption(a, v, { integer: true });
      if (o.size < 64) throw new UsageError(`--size: expected at least 64 bytes (the id and send time go first), got '${v}'`);
    } else if (name === 'client-nodelay') {
      if (v !== 'true' && v !== 'false') throw new UsageError(`--client-nodelay: expected true or false, got '${v}'`);
      o.clientNoDelay = v === 'true';
    } else if (name === 'systems') {
      const s = v.split(',').filter(Boolean);
      const bad = s.find((x) => !(SYSTEMS as readonly string[]).includes(x));
      if (bad || s.length === 0) throw new UsageError(`--systems: unknown '${bad ?? ''}' (known: ${SYSTEMS.join(', ')})`);
      o.systems = s as System[];
    } else throw new UsageError(`unknown option ${a}\n${USAGE}`);
  }).json;
  return o;
}

/** The systems of round `r` (1-based): as given in odd rounds, reversed in even ones. */
export function roundOrder(systems: readonly System[], r: number): System[] {
  return r % 2 === 1 ? [...systems] : [...systems].reverse();
}

// ---------------------------------------------------------------------------------------------
// One cell

/** One measured run of one system. */
export interface MqttCell {
  /** PUBACKed publishes per second of producing (first PUBLISH to last PUBACK). */
  msgPerSec: number;
  /** PUBLISH written -> its PUBACK, ms. */
  p50AckMs: number;
  p99AckMs: number;
  /** PUBLISH written -> delivered to the subscriber, ms (same process, same clock). */
  p50DeliverMs: number;
  p99DeliverMs: number;
  sent: number;
  acked: number;
  received: number;
  /** PUBACKed and never delivered. */
  lost: number;
  /** Delivered more than once (QoS 1 allows it; counted, not a failure). */
  duplicates: number;
  /** PUBLISHes that never got their PUBACK (the connection failed). */
  failed: number;
  /** The machine's 1-minute load average when the cell began and ended. */
  load: [number, number];
  /** CPU (user + system) of this process — both clients — over the run, in cores (1 = one core busy). */
  clientCores?: number;
  error?: string;
}

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const say = (s: string) => process.stderr.write(`[mqtt] ${s}\n`);

/** A payload of `size` bytes: `<n>\n<send time, ms>\n` then 'x'. */
export function payload(n: number, sentAt: number, size: number): Buffer {
  const b = Buffer.alloc(size, 0x78);
  b.write(`${n}\n${sentAt.toFixed(3)}\n`, 0, 'latin1');
  return b;
}

/** [n, send time] from a payload written by `payload`; undefined for anything else. */
export function parsePayload(b: Buffer): [number, number] | undefined {
  const m = /^(\d{1,15})\n(\d+\.\d{3})\n/.exec(b.toString('latin1', 0, Math.min(b.length, 48)));
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const ACKED = 1;
const DELIVERED = 2;

/** Per message number: PUBACKed, delivered; `pending` = PUBACKed and not delivered yet. */
export class Ledger {
  private states = new Uint8Array(1 << 16);
  pending = 0;
  received = 0;
  duplicates = 0;
  private at(n: number): Uint8Array {
    if (n >= this.states.length) { const g = new Uint8Array(Math.max(n + 1, this.states.length * 2)); g.set(this.states); this.states = g; }
    return this.states;
  }
  acked(n: number): void {
    const s = this.at(n);
    if (s[n]! & ACKED) return;
    if (!(s[n]! & DELIVERED)) this.pending++;
    s[n]! |= ACKED;
  }
  delivered(n: number): void {
    const s = this.at(n);
    if (s[n]! & DELIVERED) { this.duplicates++; return; }
    s[n]! |= DELIVERED;
    this.received++;
    if (s[n]! & ACKED) this.pending--;
  }
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

export const failedCell = (error: string, load: [number, number] = [loadavg()[0]!, loadavg()[0]!]): MqttCell => ({
  msgPerSec: 0, p50AckMs: NaN, p99AckMs: NaN, p50DeliverMs: NaN, p99DeliverMs: NaN, sent: 0, acked: 0, received: 0, lost: 0, duplicates: 0, failed: 0, load, error,
});

/**
 * TCP_NODELAY on a client's socket: mqtt.js leaves Nagle's algorithm on, which would hold a
 * PUBLISH or a PUBACK back while an earlier segment is unacknowledged (mqtt-packet corks each
 * packet's writes, so this does not split packets).
 */
function noDelay(c: mqtt.MqttClient): mqtt.MqttClient {
  (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return c;
}

export interface BenchSettings {
  durationS: number; window: number; size: number; tag: string; drainIdleMs?: number; stallMs?: number;
  /** TCP_NODELAY on the clients' sockets (default true; false = mqtt.js as it comes, Nagle on). */
  clientNoDelay?: boolean;
}

/**
 * One cell against the broker at `url` (mqtt://host:port). Never throws: a failure is a cell
 * with `error` (and whatever was counted before it).
 */
export async function benchMqtt(url: string, s: BenchSettings): Promise<MqttCell> {
  const load0 = loadavg()[0]!;
  const cpu0 = process.cpuUsage();
  const topic = `bench/mqtt/${s.tag}`;
  const drainIdleMs = s.drainIdleMs ?? 10_000;
  const stallMs = s.stallMs ?? 30_000;
  const ledger = new Ledger();
  const ackLat: number[] = [];
  const deliverLat: number[] = [];
  let lastDelivered = now();
  let broken: string | undefined;
  const opts = { protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: 15_000, keepalive: 60 };
  let sub: mqtt.MqttClient | undefined;
  let pub: mqtt.MqttClient | undefined;
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let inFlight = 0;
  const started = now();
  let lastAck = 0;
  let watchdog: NodeJS.Timeout | undefined;
  try {
    // The subscriber first, with a persistent session, so every message has a stored taker.
    const tune = (c: mqtt.MqttClient) => (s.clientNoDelay === false ? c : noDelay(c));
    sub = tune(await mqtt.connectAsync(url, { ...opts, clientId: `bench-sub-${s.tag}`, clean: false }));
    sub.on('message', (_t, body) => {
      const id = parsePayload(body);
      if (!id) return;
      const t = now();
      deliverLat.push(t - id[1]);
      ledger.delivered(id[0]);
      lastDelivered = t;
    });
    sub.on('close', () => { broken ??= 'the subscriber\'s connection closed'; });
    const granted = await sub.subscribeAsync(topic, { qos: 1 });
    if (granted[0]?.qos !== 1) throw new Error(`SUBACK granted QoS ${granted[0]?.qos} to ${topic}, not 1`);

    pub = tune(await mqtt.connectAsync(url, { ...opts, clientId: `bench-pub-${s.tag}`, clean: true }));
    pub.on('close', () => { broken ??= 'the publisher\'s connection closed'; });
    let wake: (() => void) | undefined;
    let lastProgress = now();
    let counting = true; // false once the run's books are closed: a late callback changes nothing
    const release = () => { inFlight--; lastProgress = now(); const w = wake; wake = undefined; w?.(); };
    // A watchdog wakes the waiting loop so a stall or a broken connection ends the run.
    watchdog = setInterval(() => {
      if (inFlight > 0 && now() - lastProgress > stallMs) broken ??= `no PUBACK for ${stallMs / 1000} s`;
      if (broken) { const w = wake; wake = undefined; w?.(); }
    }, 250);
    /** Waits until fewer than `limit` PUBLISHes await a PUBACK; false when stalled or broken. */
    const below = async (limit: number): Promise<boolean> => {
      while (inFlight >= limit) {
        if (broken) return false;
        await new Promise<void>((r) => { wake = r; });
      }
      return true;
    };
    const publisher = pub;
    const deadline = started + s.durationS * 1000;
    for (let n = 0; now() < deadline && !broken; n++) {
      if (!(await below(s.window))) break;
      const t0 = now();
      inFlight++;
      sent++;
      publisher.publish(topic, payload(n, t0, s.size), { qos: 1 }, (err) => {
        if (!counting) return;
        if (err) { failed++; release(); return; }
        const t = now();
        ackLat.push(t - t0);
        acked++;
        lastAck = t;
        ledger.acked(n);
        release();
      });
      // Let the socket and the PUBACKs in now and then during a long synchronous burst.
      if ((n & 63) === 63) await new Promise<void>((r) => setImmediate(r));
    }
    await below(1);
    counting = false;
    failed += inFlight;
    // Drain: everything PUBACKed delivered, or nothing came for drainIdleMs.
    lastDelivered = Math.max(lastDelivered, now());
    while (ledger.pending > 0 && now() - lastDelivered < drainIdleMs && !(broken && !sub.connected)) await sleep(20);
    await sub.unsubscribeAsync(topic).catch(() => undefined);
  } catch (e) {
    broken ??= (e as Error).message;
  } finally {
    clearInterval(watchdog);
    await Promise.all([pub, sub].map((c) => c?.endAsync(true).catch(() => undefined)));
  }
  const elapsedMs = (lastAck || now()) - started;
  const a = Float64Array.from(ackLat).sort();
  const d = Float64Array.from(deliverLat).sort();
  const cell: MqttCell = {
    msgPerSec: elapsedMs > 0 ? acked / (elapsedMs / 1000) : 0,
    p50AckMs: pct(a, 50), p99AckMs: pct(a, 99), p50DeliverMs: pct(d, 50), p99DeliverMs: pct(d, 99),
    sent, acked, received: ledger.received, lost: ledger.pending, duplicates: ledger.duplicates, failed,
    load: [load0, loadavg()[0]!],
  };
  const cpu = process.cpuUsage(cpu0);
  const wallMs = now() - started;
  if (wallMs > 0) cell.clientCores = (cpu.user + cpu.system) / 1000 / wallMs;
  // A connection closed at the very end (after every PUBACK) is not a failure of the run.
  if (broken && (failed > 0 || ledger.pending > 0 || acked === 0)) cell.error = broken;
  return cell;
}

// ---------------------------------------------------------------------------------------------
// The systems

/** A started system: its MQTT URL, a version string, how to stop it. */
export interface Running { url: string; version?: string; stop(): Promise<void> }

/** mosquitto is missing, did not come up in time, or exited while starting. */
export class MosquittoLaunchError extends Error {
  constructor(message: string, readonly code: 'MOSQUITTO_NOT_INSTALLED' | 'MOSQUITTO_START_TIMEOUT' | 'MOSQUITTO_EXITED') {
    super(message);
    this.name = 'MosquittoLaunchError';
  }
}

/** The mosquitto broker: $MOSQUITTO, else PATH plus /usr/sbin (Debian installs it there). */
export function mosquittoBinary(): string {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'].filter(Boolean);
  const candidates = process.env['MOSQUITTO'] ? [process.env['MOSQUITTO']] : dirs.map((d) => join(d, 'mosquitto'));
  for (const c of candidates) {
    try { accessSync(c, constants.X_OK); return c; } catch { /* next */ }
  }
  throw new MosquittoLaunchError('the mosquitto broker is not installed (not on PATH nor in /usr/sbin); install it: apt-get install -y mosquitto', 'MOSQUITTO_NOT_INSTALLED');
}

/**
 * mosquitto.conf for a private broker: one listener on 127.0.0.1, anonymous clients,
 * persistence in `dir`. No limit on the messages queued for a client (the default, 1000,
 * drops QoS 1 messages beyond it: a lagging subscriber would lose them).
 */
export function mosquittoConf(port: number, dir: string, o: { asRoot: boolean; noDelay: boolean }): string {
  return [
    '# Written by tools/bench/dist/mqtt.js: a private broker for a benchmark.',
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    'max_queued_messages 0',
    ...(o.noDelay ? ['set_tcp_nodelay true'] : []),
    `log_dest file ${join(dir, 'mosquitto.log')}`,
    // Started as root, mosquitto drops to the user `mosquitto`, who cannot write the temp dir.
    ...(o.asRoot ? ['user root'] : []),
    '',
  ].join('\n');
}

/** Starts `mosquitto -c <conf>` on a free loopback port; ready when a CONNECT gets its CONNACK. */
export async function startMosquitto(o: { noDelay?: boolean; timeoutMs?: number } = {}): Promise<Running & { pid: number; dir: string }> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const bin = mosquittoBinary();
  const help = spawnSync(bin, ['-h'], { encoding: 'utf8' });
  const version = /mosquitto version (\S+)/.exec(`${help.stdout}${help.stderr}`)?.[1] ?? 'unknown';
  const dir = mkdtempSync(join(tmpdir(), 'hawser-bench-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, mosquittoConf(port, dir, { asRoot: process.getuid?.() === 0, noDelay: o.noDelay ?? false }));
  const out = openSync(join(dir, 'mosquitto.out'), 'a');
  let child: ChildProcess;
  try { child = spawn(bin, ['-c', conf], { stdio: ['ignore', out, out] }); } finally { closeSync(out); }
  let spawnError: Error | undefined;
  child.on('error', (e) => { spawnError = e; });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const stop = async () => {
    if (child.pid !== undefined && !exited()) {
      child.kill('SIGTERM');
      for (const deadline = Date.now() + 5000; !exited() && Date.now() < deadline;) await sleep(50);
      if (!exited()) { child.kill('SIGKILL'); for (const deadline = Date.now() + 5000; !exited() && Date.now() < deadline;) await sleep(20); }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `mqtt://127.0.0.1:${port}`;
  const tail = () => { try { return readFileSync(join(dir, 'mosquitto.log'), 'utf8').trim().split('\n').slice(-5).join('\n'); } catch { return ''; } };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) { await stop(); throw new MosquittoLaunchError(`mosquitto did not start: ${spawnError.message}`, 'MOSQUITTO_EXITED'); }
    if (exited()) { const t = tail(); await stop(); throw new MosquittoLaunchError(`mosquitto exited while starting (status ${child.exitCode ?? child.signalCode}):\n${t}`, 'MOSQUITTO_EXITED'); }
    try {
      const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 1000 });
      await c.endAsync();
      return { url, version, pid: child.pid!, dir, stop };
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { const t = tail(); await stop(); throw new MosquittoLaunchError(`mosquitto did not accept MQTT on ${url} within ${timeoutMs} ms:\n${t}`, 'MOSQUITTO_START_TIMEOUT'); }
    await sleep(100);
  }
}

/** `hawser activemq start --mqtt-port` in a temp dir (KahaDB, STOMP and MQTT connectors on free ports). */
async function startActiveMq(noDelay: boolean): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-bench-mqtt-amq-'));
  const [stompPort, mqttPort] = [await freePort(), await freePort()];
  const r = await runCli(['activemq', 'start', '--dir', dir, '--stomp-port', String(stompPort), '--mqtt-port', String(mqttPort), ...(noDelay ? ['--tcp-no-delay'] : [])], 150_000);
  if (r.code !== 0) { rmSync(dir, { recursive: true, force: true }); throw new Error(`activemq start failed: ${r.stderr.trim().split('\n').pop()}`); }
  say(r.stdout.trim());
  return {
    url: `mqtt://127.0.0.1:${mqttPort}`,
    version: '5.17',
    stop: async () => {
      const st = await runCli(['activemq', 'stop', '--dir', dir], 120_000);
      if (st.code !== 0) say(`activemq stop: ${st.stderr.trim()}`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startSystem(s: System): Promise<Running> {
  if (s === 'mosquitto' || s === 'mosquitto_nagle') return startMosquitto({ noDelay: s === 'mosquitto' });
  if (s === 'activemq' || s === 'activemq_nagle') return startActiveMq(s === 'activemq');
  if (s === 'embedded' || s === 'embedded_disk' || s === 'standalone') {
    const h = new Harness(`bench-mqtt-${s}`);
    try {
      if (s === 'standalone') {
        const store = await h.startStore();
        const gw = await h.startGateway(store, { args: GATEWAY_MQTT });
        return { url: `mqtt://127.0.0.1:${gw.field('mqttPort')}`, stop: () => h.close() };
      }
      const store = await h.startStore({ args: [...EMBEDDED_MQTT, ...(s === 'embedded_disk' ? ['--sync', 'quorum_disk'] : [])] });
      return { url: `mqtt://127.0.0.1:${store.field('mqttPort')}`, stop: () => h.close() };
    } catch (e) { await h.close(); throw e; }
  }
  // A group of 3 (ZooKeeper, 3 replicated stores, 1 coordinator): the client on the master
  // node's embedded gateway (in-process), or on 1 separate gateway.
  const onMaster = s === 'quorum_mem_master';
  const c = await Cluster.start({
    name: `bench-mqtt-${s}`, sync: 'quorum_mem', stores: 3, coordinators: 1, gateways: onMaster ? 0 : 1, maxWaitMs: 60_000,
    embeddedGateways: onMaster, ...(onMaster ? { storeArgs: ['--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', '0'] } : { gatewayArgs: GATEWAY_MQTT }),
  });
  try {
    if (!onMaster) return { url: `mqtt://127.0.0.1:${c.gateway.field('mqttPort')}`, stop: () => c.close() };
    const { store: master } = await c.waitForMaster();
    return { url: `mqtt://127.0.0.1:${master.field('mqttPort')}`, stop: () => c.close() };
  } catch (e) { await c.close(); throw e; }
}

// ---------------------------------------------------------------------------------------------
// The table

export interface RunRecord { round: number; system: System; cell: MqttCell }

const fmtN = (n: number) => (Number.isFinite(n) && n > 0 ? Math.round(n).toLocaleString('en-US') : '-');
const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : String(Math.round(n))) : '-');
/** `median (min-max)` of the finite values; '-' when none. */
export function spread(values: number[], fmt: (n: number) => string): string {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return '-';
  if (v.length === 1) return fmt(v[0]!);
  return `${fmt(median(v))} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})`;
}

/** One line per system: medians with min-max over its measured rounds; failed rounds with their reason. */
export function table(systems: readonly System[], runs: readonly RunRecord[]): string {
  const amq = runs.filter((r) => r.system === 'activemq' && !r.cell.error).map((r) => r.cell.msgPerSec);
  const amqMedian = amq.length ? median(amq) : NaN;
  const head = ['system', 'msg/s', 'p50 ms PUBLISH→PUBACK', 'p99 ms PUBLISH→PUBACK', 'p99 ms PUBLISH→delivered', 'lost / dup / failed', 'rounds', '/ ActiveMQ'];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const s of systems) {
    const mine = runs.filter((r) => r.system === s);
    if (mine.length === 0) continue;
    const ok = mine.filter((r) => !r.cell.error).map((r) => r.cell);
    const bad = mine.filter((r) => r.cell.error);
    const why = bad.map((r) => `round ${r.round}: ${r.cell.error!.replace(/\s+/g, ' ').replace(/\|/g, '/').slice(0, 100)}`).join('; ');
    if (ok.length === 0) { lines.push(`| ${LABEL[s]} | failed: ${why} | - | - | - | - | 0/${mine.length} | - |`); continue; }
    const sum = (f: (c: MqttCell) => number) => mine.reduce((n, r) => n + f(r.cell), 0);
    const warn = sum((c) => c.lost) > 0 ? ' ⚠' : '';
    const rate = median(ok.map((c) => c.msgPerSec));
    const ratio = s !== 'activemq' && Number.isFinite(amqMedian) && amqMedian > 0 ? `${(rate / amqMedian).toFixed(2)}x` : '-';
    lines.push(`| ${LABEL[s]} | ${spread(ok.map((c) => c.msgPerSec), fmtN)} | ${spread(ok.map((c) => c.p50AckMs), fmtMs)} | ${spread(ok.map((c) => c.p99AckMs), fmtMs)}`
      + ` | ${spread(ok.map((c) => c.p99DeliverMs), fmtMs)} | ${sum((c) => c.lost)} / ${sum((c) => c.duplicates)} / ${sum((c) => c.failed)}${warn}`
      + ` | ${ok.length}/${mine.length}${bad.length ? ` (failed: ${why})` : ''} | ${ratio} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseArgs(argv); } catch (e) { return usageExit(e); }
  const runs: RunRecord[] = [];
  const versions: Record<string, string> = {};
  const loadStart = loadavg();
  let failed = false;
  let current: Running | undefined;
  const interrupted = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping the system under test`);
    void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const tag0 = Date.now().toString(36);
  for (let round = 1; round <= o.rounds; round++) {
    for (const s of roundOrder(o.systems, round)) {
      say(`round ${round}: starting ${LABEL[s]} (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
      let sys: Running;
      try { sys = await startSystem(s); current = sys; } catch (e) {
        failed = true;
        const msg = (e as Error).message.split('\n')[0]!;
        say(`${s}: did not start: ${(e as Error).message}`);
        runs.push({ round, system: s, cell: failedCell(`did not start: ${msg}`) });
        continue;
      }
      try {
        if (sys.version) versions[s] = sys.version;
        if (s.startsWith('activemq') && o.warmup > 0) {
          say(`warming ActiveMQ up for ${o.warmup} s (its JIT)`);
          const w = await benchMqtt(sys.url, { durationS: o.warmup, window: o.window, size: o.size, clientNoDelay: o.clientNoDelay, tag: `${tag0}-warmup-${round}` });
          say(`warmup: ${fmtN(w.msgPerSec)} msg/s${w.error ? `, error ${w.error}` : ''}`);
        }
        const cell = await benchMqtt(sys.url, { durationS: o.duration, window: o.window, size: o.size, clientNoDelay: o.clientNoDelay, tag: `${tag0}-${s}-${round}` });
        runs.push({ round, system: s, cell });
        if (cell.error || cell.lost > 0 || cell.failed > 0) failed = true;
        say(`round ${round} ${s}: ${fmtN(cell.msgPerSec)} msg/s, PUBACK p50 ${fmtMs(cell.p50AckMs)} p99 ${fmtMs(cell.p99AckMs)} ms, delivered p99 ${fmtMs(cell.p99DeliverMs)} ms,`
          + ` sent ${cell.sent} acked ${cell.acked} received ${cell.received} lost ${cell.lost} dup ${cell.duplicates} failed ${cell.failed},`
          + ` load ${cell.load.map((l) => l.toFixed(2)).join('->')}, clients ${cell.clientCores?.toFixed(2) ?? '-'} cores${cell.error ? `, error ${cell.error}` : ''}`);
      } finally {
        current = undefined;
        await sys.stop().catch((e: Error) => say(`stopping ${s}: ${e.message}`));
      }
    }
  }
  const loads = runs.flatMap((r) => r.cell.load);
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version };
  const settings = { duration: o.duration, rounds: o.rounds, window: o.window, sizeBytes: o.size, warmupActiveMq: o.warmup, clientNoDelay: o.clientNoDelay, qos: 1, subscriber: 'clean=false, QoS 1' };
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ settings, machine, versions, loadAverage: { atStart: loadStart, atEnd: loadavg(), cellsMin1: loads.length ? [Math.min(...loads), Math.max(...loads)] : [] }, systems: o.systems, runs }, null, 2)}\n`);
  } else {
    process.stdout.write(`${table(o.systems, runs)}\n\n${o.size} B payloads, QoS 1, window ${o.window}, ${o.duration} s per run, client TCP_NODELAY ${o.clientNoDelay ? 'on' : 'off (Nagle)'}, ${o.rounds} round(s) alternating;`
      + ` median (min-max) over rounds. machine: ${machine.nproc} x ${machine.cpu}, ${machine.ramGiB} GiB, node ${machine.node};`
      + ` 1-min load average during the cells ${loads.length ? `${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}` : '-'}\n`);
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: Error) => { process.stderr.write(`${e.stack ?? e.message}\n`); process.exit(1); });
}
