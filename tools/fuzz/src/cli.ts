#!/usr/bin/env node
// hawser-fuzz: throws generated, mutated and garbage STOMP frames at running gateways (plus
// garbage at WebSocket and gRPC ports) while a witness client checks that nobody else is
// hurt. Exit 0 when every check passed, 1 when one failed, 2 for a usage error.
//
//   node tools/fuzz/dist/cli.js --uri stomp://127.0.0.1:61613 --frames 1000000 --seed 7 \
//     --ws 127.0.0.1:61614 --grpc 127.0.0.1:61620 --pids 1234,1240 --http 127.0.0.1:8161
import { resolve } from 'node:path';
import { runFuzz, targetOf, type FuzzOptions, type FuzzReport } from './run';
import { grpcMethodPaths } from './grpc-driver';
import { mb } from './monitor';
import type { Target } from './stomp-driver';

export const USAGE = `usage: hawser-fuzz --uri stomp://host:port[,stomp://...] [options]
       hawser-fuzz --protocol mqtt --uri mqtt://host:port[,mqtt://...] [options]
  --uri URIS            gateways to fuzz (comma-separated stomp://host:port, or mqtt://host:port); one witness client on each
  --protocol P          stomp (default) or mqtt: what the TCP fuzz and the witnesses speak (mqtt: MQTT 3.1.1 packets, an mqtt.js witness)
  --frames N            STOMP frames (MQTT packets) to write over TCP (default 100000)
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
  --max-receipt-gap MS     longest a witness may go without a receipt (default 10000)
  --max-rss-growth MB      end RSS may exceed start RSS by this much (default 200)
  --max-fd-growth N        end open file descriptors (--pids) may exceed start by this many (default: reported, not checked)
  --progress MS            a progress line on stderr this often (default 5000)
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
    uris: [], ws: [], grpc: [], grpcPaths: [], frames: 100_000, seed: (Math.random() * 2 ** 32) >>> 0, concurrency: 32,
    wsConcurrency: 2, grpcConcurrency: 2, pids: [], http: [], witnessIntervalMs: 20, maxReceiptGapMs: 10_000,
    maxRssGrowthMb: 200, progressMs: 5000, closeWaitMs: 10_000, log,
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
      case '--max-receipt-gap': o.maxReceiptGapMs = int(a, v); break;
      case '--max-rss-growth': o.maxRssGrowthMb = int(a, v); break;
      case '--max-fd-growth': o.maxFdGrowth = int(a, v, 0); break;
      case '--progress': o.progressMs = int(a, v); break;
      case '--close-wait': o.closeWaitMs = int(a, v); break;
      case '--proto': protoDir = v; break;
      default: throw new UsageError(`unknown option ${a}\n${USAGE}`);
    }
  }
  if (o.uris.length === 0) throw new UsageError(`--uri is required\n${USAGE}`);
  const scheme = o.protocol === 'mqtt' ? 'mqtt://' : 'stomp://';
  const wrong = o.uris.find((u) => (o.protocol === 'mqtt') !== u.startsWith('mqtt://'));
  if (wrong !== undefined) throw new UsageError(`--uri: '${wrong}' does not go with --protocol ${o.protocol ?? 'stomp'}: give ${scheme}host:port`);
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
    ...r.rss.map((f) => `  rss        ${f.name} (${f.source}): start ${mb(f.start)}, middle ${mb(f.middle)}, end ${mb(f.end)}, peak ${mb(f.peak)} (bound start + ${o.maxRssGrowthMb} MB)`
      + (f.fds ? `; open fds ${f.fds.start ?? '?'} / ${f.fds.middle ?? '?'} / ${f.fds.end ?? '?'}` : '')),
    o.protocol === 'mqtt' ? `  drained    ${n(r.drained)} pooled client ids' sessions discarded` : `  drained    ${n(r.drained)} messages left on the fuzz queues`,
    ...r.failures.map((f) => `  FAILED     ${f}`),
  ];
  return lines.join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  let parsed: ReturnType<typeof parseArgs>;
  try { parsed = parseArgs(argv, log); } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return e instanceof UsageError && (e as Error).message.startsWith('usage') ? 0 : 2;
  }
  const { options, json } = parsed;
  log(`[fuzz] seed ${options.seed}, ${n(options.frames)} frames at ${options.uris.join(', ')} (replay: --seed ${options.seed})`);
  const r = await runFuzz(options);
  process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${summary(r, options)}\n`);
  return r.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => { process.stderr.write(`hawser-fuzz: ${(e as Error).stack ?? e}\n`); process.exit(1); });
}
