#!/usr/bin/env node
// hawser-fuzz: throws generated, mutated and garbage STOMP frames at running gateways (plus
// garbage at WebSocket and gRPC ports) while a witness client checks that nobody else is
// hurt. Exit 0 when every check passed, 1 when one failed, 2 for a usage error.
//
//   node tools/fuzz/dist/cli.js --uri stomp://127.0.0.1:61613 --frames 1000000 --seed 7 \
//     --ws 127.0.0.1:61614 --grpc 127.0.0.1:61620 --pids 1234,1240 --http 127.0.0.1:8161
import { resolve } from 'node:path';
import { runFuzz, targetOf, TRAFFIC, type FuzzOptions, type FuzzReport, type Traffic } from './run';
import { grpcMethodPaths } from './grpc-driver';
import { mb } from './monitor';
import type { Target } from './stomp-driver';

export const USAGE = `usage: hawser-fuzz --uri stomp://host:port[,stomp://...] [options]
       hawser-fuzz --protocol mqtt --uri mqtt://host:port[,mqtt://...] [options]
  --uri URIS            gateways to fuzz (comma-separated stomp://host:port, or mqtt://host:port); one witness client on each
  --protocol P          stomp (default) or mqtt: what the TCP fuzz and the witnesses speak (mqtt: MQTT 3.1.1 packets, an mqtt.js witness)
  --frames N            STOMP frames (MQTT packets) to write over TCP (default 100000)
  --traffic KINDS       which fuzz traffic to send: tcp (the --protocol fuzz), ws, grpc, comma-separated (default all three)
  --duration S          stop the fuzz after S seconds even if the frames were not all sent (required without tcp)
  --seed S              PRNG seed (default: random, printed); the same seed replays the same frames
  --concurrency N       fuzz connections at once (default 32)
  --ws HOST:PORT,...    WebSocket ports to fuzz beside (default none)
  --ws-concurrency N    connections at once per WebSocket port (default 2)
  --grpc HOST:PORT,...  gRPC ports (stores, coordinators) to throw garbage at (default none)
  --grpc-concurrency N  connections at once per gRPC port (default 2)
  --pids PID,...        processes to watch: alive, VmRSS from /proc/<pid>/status
  --http HOST:PORT,...  HTTP ports to watch: /healthz must answer 200, RSS from /metrics
  --login L --passcode P   credentials for the witness and most fuzz CONNECTs (default anonymous)
  --witness-interval MS    pause between witness SENDs (default 20)
  --witness-queue NAME     the witnesses' queue, NAME.<n> for the n-th --uri (default a new name per run)
  --max-receipt-gap MS     longest a witness may go without a receipt (default 10000)
  --max-rss-growth MB      end RSS may exceed start RSS by this much (default 200)
  --max-rss-late-growth MB RSS when the fuzz ends may exceed RSS at its middle by this much (default: reported, not checked)
  --max-fd-growth N        end open file descriptors (--pids) may exceed start by this many (default: reported, not checked)
  --progress MS            a progress line on stderr this often (default 5000)
  --settle S               after the drain, let the processes idle S seconds before the end figures (default 0)
  --close-wait MS          how long the server may take to close after our FIN (default 10000)
  --proto DIR              .proto files naming the gRPC methods (default the repository's proto/hawser)
  --json                   the report as JSON on stdout instead of the text summary`;

export class UsageError extends Error {
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

function targets(flag: string, v: string): Target[] {
  return v.split(',').filter(Boolean).map((hp) => {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hp.trim());
    if (!m) throw new UsageError(`${flag}: expected host:port, got '${hp}'`);
    return { host: m[1]!, port: Number(m[2]) };
  });
}

function int(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got '${v}'`);
  return n;
}

export function parseArgs(argv: readonly string[], log: (l: string) => void): { options: FuzzOptions; json: boolean } {
  const o: FuzzOptions = {
    uris: [], ws: [], grpc: [], grpcPaths: [], frames: 100_000, traffic: new Set(TRAFFIC), seed: (Math.random() * 2 ** 32) >>> 0, concurrency: 32,
    wsConcurrency: 2, grpcConcurrency: 2, pids: [], http: [], witnessIntervalMs: 20, maxReceiptGapMs: 10_000,
    maxRssGrowthMb: 200, progressMs: 5000, settleMs: 0, closeWaitMs: 10_000, log,
  };
  let json = false;
  let protoDir = resolve(__dirname, '../../../proto/hawser');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') { json = true; continue; }
    if (a === '--help' || a === '-h') throw new UsageError(USAGE);
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`${a} needs a value\n${USAGE}`);
    switch (a) {
      case '--uri': o.uris = v.split(',').filter(Boolean); for (const u of o.uris) { try { targetOf(u); } catch (e) { throw new UsageError(`--uri: ${(e as Error).message}`); } } break;
      case '--frames': o.frames = int(a, v); break;
      case '--protocol':
        if (v !== 'stomp' && v !== 'mqtt') throw new UsageError(`--protocol: expected stomp or mqtt, got '${v}'`);
        o.protocol = v;
        break;
      case '--traffic': {
        const kinds = v.split(',').filter(Boolean);
        const bad = kinds.find((k) => !(TRAFFIC as readonly string[]).includes(k));
        if (bad !== undefined || kinds.length === 0) throw new UsageError(`--traffic: expected some of ${TRAFFIC.join(',')}, got '${v}'`);
        o.traffic = new Set(kinds as Traffic[]);
        break;
      }
      case '--duration': o.durationMs = int(a, v) * 1000; break;
      case '--seed': o.seed = int(a, v, 0) >>> 0; break;
      case '--concurrency': o.concurrency = int(a, v); break;
      case '--ws': o.ws = targets(a, v); break;
      case '--ws-concurrency': o.wsConcurrency = int(a, v); break;
      case '--grpc': o.grpc = targets(a, v); break;
      case '--grpc-concurrency': o.grpcConcurrency = int(a, v); break;
      case '--pids': o.pids = v.split(',').filter(Boolean).map((p) => int(a, p)); break;
      case '--http': o.http = targets(a, v); break;
      case '--login': o.login = v; break;
      case '--passcode': o.passcode = v; break;
      case '--witness-interval': o.witnessIntervalMs = int(a, v, 0); break;
      case '--witness-queue': o.witnessQueue = v; break;
      case '--max-receipt-gap': o.maxReceiptGapMs = int(a, v); break;
      case '--max-rss-growth': o.maxRssGrowthMb = int(a, v); break;
      case '--max-rss-late-growth': o.maxRssLateGrowthMb = int(a, v, 0); break;
      case '--max-fd-growth': o.maxFdGrowth = int(a, v, 0); break;
      case '--progress': o.progressMs = int(a, v); break;
      case '--settle': o.settleMs = int(a, v, 0) * 1000; break;
      case '--close-wait': o.closeWaitMs = int(a, v); break;
      case '--proto': protoDir = v; break;
      default: throw new UsageError(`unknown option ${a}\n${USAGE}`);
    }
  }
  if (o.uris.length === 0) throw new UsageError(`--uri is required\n${USAGE}`);
  const scheme = o.protocol === 'mqtt' ? 'mqtt://' : 'stomp://';
  const wrong = o.uris.find((u) => (o.protocol === 'mqtt') !== u.startsWith('mqtt://'));
  if (wrong !== undefined) throw new UsageError(`--uri: '${wrong}' does not go with --protocol ${o.protocol ?? 'stomp'}: give ${scheme}host:port`);
  if (!o.traffic.has('tcp') && o.durationMs === undefined) throw new UsageError('--duration is required when --traffic leaves out tcp (the frame count ends the run only with the TCP fuzz)');
  o.grpcPaths = grpcMethodPaths(protoDir);
  if (o.grpc.length > 0 && o.grpcPaths.length === 0) log(`[fuzz] no rpc found under ${protoDir}: the gRPC calls go to made-up paths only`);
  return { options: o, json };
}

const n = (x: number) => x.toLocaleString('en');

/** The text summary. */
export function summary(r: FuzzReport, o: FuzzOptions): string {
  const c = r.counters;
  const lines = [
    `hawser-fuzz seed ${r.seed}: ${r.ok ? 'PASS' : 'FAIL'}`,
    `  frames     ${n(c.frames)} in ${(r.durationMs / 1000).toFixed(1)} s = ${n(r.framesPerSecond)} frames/s (valid ${n(c.valid)}, mutated ${n(c.mutated)}, garbage ${n(c.garbage)}; ${mb(c.bytes)})`,
    o.protocol === 'mqtt'
      ? `  mqtt       ${n(c.connections)} connections (${n(c.connected)} CONNACK 0), ${n(c.receipts)} acks (SUBACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, PINGRESP), ${n(c.messages)} PUBLISHes, refused at TCP ${c.connectFailures}, not closed after our FIN ${c.notClosed}`
      : `  stomp      ${n(c.connections)} connections (${n(c.connected)} CONNECTED), ${n(c.receipts)} RECEIPTs, ${n(c.messages)} MESSAGEs, refused at TCP ${c.connectFailures}, not closed after our FIN ${c.notClosed}`,
    `  ${o.protocol === 'mqtt' ? 'refusals   CONNACK codes and SUBACK 0x80' : 'ERRORs    '} ${n(Object.values(c.errors).reduce((a, b) => a + b, 0))} by code:`,
    ...Object.entries(c.errors).sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, v]) => `    ${String(v).padStart(9)}  ${k}`),
    ...(Object.keys(r.gatewayErrors).length > 0 ? [`  gateway    ERRORs by code (hawser_gateway_errors_total on --http, all protocols): ${Object.entries(r.gatewayErrors).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${n(v)}`).join(', ')}`] : []),
    `  websocket  ${n(c.ws.connections)} connections, ${n(c.ws.upgraded)} upgraded, ${n(c.ws.frames)} frames; HTTP status ${JSON.stringify(c.ws.statuses)}`,
    `  grpc       ${n(c.grpc.connections)} connections, ${n(c.grpc.requests)} calls, ${mb(c.grpc.bytes)} raw; ${JSON.stringify(c.grpc.statuses)}`,
    ...r.witnesses.map((w) => `  witness    ${w.uri}: sent ${n(w.sent)}, receipted ${n(w.receipted)}, received ${n(w.received)} (missing ${w.missing}, duplicates ${w.duplicates}), receipt p99 ${w.p99ReceiptMs} ms, max ${w.maxReceiptMs} ms, longest silence ${w.maxGapMs} ms (bound ${o.maxReceiptGapMs})`),
    ...r.rss.map((f) => `  rss        ${f.name} (${f.source}): start ${mb(f.start)}, middle ${mb(f.middle)}, fuzz end ${mb(f.fuzzEnd)}, end ${mb(f.end)}, peak ${mb(f.peak)} (bound start + ${o.maxRssGrowthMb} MB`
      + `${o.maxRssLateGrowthMb === undefined ? '' : `; fuzz end <= middle + ${o.maxRssLateGrowthMb} MB`})`
      + (f.fds ? `; open fds ${f.fds.start ?? '?'} / ${f.fds.middle ?? '?'} / ${f.fds.end ?? '?'}` : '')
      + (f.held ? `; holds ${n(f.held.messages)} messages in ${n(f.held.destinations)} destinations` : '')),
    ...memoryTable(r),
    o.protocol === 'mqtt' ? `  drained    ${n(r.drained)} pooled client ids' sessions discarded` : `  drained    ${n(r.drained)} messages left on the fuzz queues`,
    ...r.failures.map((f) => `  FAILED     ${f}`),
  ];
  return lines.join('\n');
}

/** Ten rows of the memory timeline (RSS / JS heap in use / external, MB) for the watched HTTP ports: what grows, if anything. */
export function memoryTable(r: FuzzReport): string[] {
  const t = r.timeline;
  if (t.length < 2) return [];
  const names = t[0]!.processes.filter((p) => p.heapUsed !== undefined).map((p) => p.name);
  if (names.length === 0) return [];
  const rows = new Set(Array.from({ length: 10 }, (_, i) => Math.round((i * (t.length - 1)) / 9)));
  const m = (b: number | undefined) => (b === undefined ? '?' : String(Math.round(b / 1048576)));
  return [`  memory     s, frames, then rss/heap/external MB, handles (and held messages) of ${names.join(', ')}`,
    ...[...rows].map((i) => {
      const p = t[i]!;
      return `    ${String(Math.round(p.atMs / 1000)).padStart(5)} ${String(p.frames).padStart(9)}  ${names.map((nm) => {
        const x = p.processes.find((q) => q.name === nm);
        return `${m(x?.rss)}/${m(x?.heapUsed)}/${m(x?.external)} ${x?.handles ?? '?'}${x?.heldMessages === undefined ? '' : ` (${x.heldMessages})`}`;
      }).join('   ')}`;
    })];
}

/** Runs the CLI; `onReport` gets the report (local.js compares rounds with it). */
export async function main(argv: readonly string[], onReport?: (r: FuzzReport) => void): Promise<number> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  let parsed: ReturnType<typeof parseArgs>;
  try { parsed = parseArgs(argv, log); } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return e instanceof UsageError && (e as Error).message.startsWith('usage') ? 0 : 2;
  }
  const { options, json } = parsed;
  log(`[fuzz] seed ${options.seed}, ${n(options.frames)} frames at ${options.uris.join(', ')} (replay: --seed ${options.seed})`);
  const r = await runFuzz(options);
  onReport?.(r);
  process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${summary(r, options)}\n`);
  return r.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => { process.stderr.write(`hawser-fuzz: ${(e as Error).stack ?? e}\n`); process.exit(1); });
}
