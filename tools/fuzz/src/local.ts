#!/usr/bin/env node
// hawser-fuzz against a private cluster it starts itself with the integration suite's
// launcher (tests/integration/src/harness.ts): one standalone store serving clients itself
// (embedded gateway) and a separate gateway in front of it, on free loopback ports, under a
// temp dir removed afterwards (HAWSER_KEEP_TMP=1 keeps it with the services' logs). The fuzz
// goes to both gateways' STOMP and WebSocket ports and to the store's gRPC port, with the
// processes watched by PID and /healthz. Every other option is hawser-fuzz's (cli.ts).
//
// `--rounds N` runs the fuzz N times in a row against the same processes (seed, seed+1, ...):
// memory that levels off stops growing after the first round; a leak grows by as much each round.
// `--max-round-growth MB` makes that a check: every later round must end with each process's
// RSS at most MB above where the round before it ended. Between rounds the store is emptied of
// what the fuzz left on purpose (its abandoned durable subscriptions, queues and topics: Admin.
// Delete of every destination but the witness queue), so each round starts from the same broker
// state and what still grows is what no round gives back.
//
// `--gc-probe` starts the store with the V8 inspector on a loopback port (`--inspect=127.0.0.1:0`,
// through NODE_OPTIONS; nothing in the store changes) and, before round 1 and after every round
// (once the store is emptied), forces a full GC and reads process.memoryUsage(): the heap a leak
// would grow, without V8's headroom. The run fails when the JS heap in use plus external memory
// after the last round's GC is more than `--max-heap-growth` MB (default 10) above the same after
// round 1's (round 1 warms the store up: JIT code, metric series, pools; needs --rounds 2 or more,
// 3 or more to mean much); `--heap-snapshots DIR` also writes
// a heap snapshot after round 1's GC and after the last round's, for heap-diff.js.
//
//   node tools/fuzz/dist/local.js --frames 1000000 --seed 1 [--rounds 2] [--gc-probe] [--store-arg --flag --store-arg value] [--json]
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminService, CHANNEL_OPTIONS, grpc, type DestinationsReply } from '@hawser/proto';
import { Harness } from '@hawser/integration/dist/harness';
import { main, UsageError } from './cli';
import { mb, metricValue } from './monitor';
import { InspectorClient, inspectorUrl, heapVerdict, residentBy, type GcProbe } from './inspector';
import type { FuzzReport } from './run';

/**
 * --max-heap-growth's default (MB): what may still grow after round 1 in a store that does not
 * leak — the dedup window filling to broker.dedupWindowPerScope (~1 MB for 10,000 keys), JIT code
 * (~1 MB), a few held messages — stays well under it; the leak of deleted durable backlogs fixed
 * in 899ab0b added 3-6 MB a round (docs/security.md, "Fuzzing").
 */
const DEFAULT_MAX_HEAP_GROWTH_MB = 10;

async function local(argv: string[]): Promise<number> {
  const storeArgs: string[] = [];
  const gatewayArgs: string[] = [];
  const rest: string[] = [];
  let rounds = 1;
  let maxRoundGrowthMb: number | undefined;
  let gcProbe = false;
  let maxHeapGrowthMb: number | undefined;
  let snapshotDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--gc-probe') gcProbe = true;
    else if (argv[i] === '--max-heap-growth') {
      const v = Number(argv[i + 1]);
      if (!Number.isFinite(v) || v < 0) throw new UsageError(`--max-heap-growth: expected a number of MB >= 0, got '${argv[i + 1]}'`);
      maxHeapGrowthMb = v;
      gcProbe = true;
      i++;
    } else if (argv[i] === '--heap-snapshots') {
      if (argv[i + 1] === undefined) throw new UsageError('--heap-snapshots needs a directory');
      snapshotDir = argv[i + 1];
      gcProbe = true;
      i++;
    } else if (argv[i] === '--rounds' || argv[i] === '--max-round-growth') {
      const v = Number(argv[i + 1]);
      if (!Number.isInteger(v) || v < (argv[i] === '--rounds' ? 1 : 0)) throw new UsageError(`${argv[i]}: expected an integer >= ${argv[i] === '--rounds' ? 1 : 0}, got '${argv[i + 1]}'`);
      if (argv[i] === '--rounds') rounds = v; else maxRoundGrowthMb = v;
      i++;
    } else if (argv[i] === '--store-arg' || argv[i] === '--gateway-arg') {
      const v = argv[i + 1];
      if (v === undefined) throw new UsageError(`${argv[i]} needs a value`);
      (argv[i] === '--store-arg' ? storeArgs : gatewayArgs).push(v);
      i++;
    } else rest.push(argv[i]!);
  }
  // --protocol mqtt: both gateways open their MQTT port, and the fuzz and the witnesses go there.
  const pAt = rest.indexOf('--protocol');
  const mqtt = pAt >= 0 && rest[pAt + 1] === 'mqtt';
  const h = new Harness('fuzz');
  const stopAll = () => { void h.close().finally(() => process.exit(130)); };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  try {
    const store = await h.startStore({
      args: ['--gateway.enabled', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0',
        ...(mqtt ? ['--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', '0'] : []), ...storeArgs],
      env: gcProbe ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim() } : undefined,
    });
    const gateway = await h.startGateway(store, { args: [...(mqtt ? ['--mqtt.enabled', 'true', '--mqtt.port', '0'] : []), ...gatewayArgs] });
    const uris = mqtt ? `mqtt://127.0.0.1:${gateway.field('mqttPort')},mqtt://127.0.0.1:${store.field('mqttPort')}` : `${gateway.stompUri},${store.stompUri}`;
    process.stderr.write(`[fuzz] cluster: store pid ${store.pid} (gRPC ${store.grpcPort}, HTTP ${store.httpPort}, embedded STOMP ${store.stompPort}, WS ${store.field('wsPort')}), `
      + `gateway pid ${gateway.pid} (STOMP ${gateway.stompPort}, WS ${gateway.wsPort}, HTTP ${gateway.httpPort}); logs in ${h.logDir}\n`);
    const seedAt = rest.indexOf('--seed');
    const seed = seedAt >= 0 ? Number(rest[seedAt + 1]) : (Math.random() * 2 ** 32) >>> 0;
    const others = seedAt >= 0 ? [...rest.slice(0, seedAt), ...rest.slice(seedAt + 2)] : rest;
    let code = 0;
    let lastEnd: Map<string, number> | undefined;
    /** Each process's end RSS against the round before's; true when one grew by more than --max-round-growth. */
    const compare = (r: FuzzReport, round: number): boolean => {
      const ends = new Map(r.rss.filter((f) => f.end !== undefined).map((f) => [f.name, f.end!]));
      const before = lastEnd;
      lastEnd = ends;
      if (!before) return false;
      let failed = false;
      const lines = [...ends].map(([name, end]) => {
        const prev = before.get(name);
        if (prev === undefined) return undefined;
        const over = maxRoundGrowthMb !== undefined && end > prev + maxRoundGrowthMb * 1048576;
        if (over) failed = true;
        return `${over ? 'FAILED' : 'ok'} ${name}: round ${round + 1} ended at ${mb(end)}, round ${round} at ${mb(prev)}${maxRoundGrowthMb === undefined ? '' : ` (bound + ${maxRoundGrowthMb} MB)`}`;
      }).filter((l) => l !== undefined);
      process.stdout.write(`${lines.map((l) => `  rounds     ${l}`).join('\n')}\n`);
      return failed;
    };
    const witnessQueue = others.includes('--witness-queue') ? others[others.indexOf('--witness-queue') + 1]! : `/queue/fuzz-witness.local.${seed}`;
    let inspector: InspectorClient | undefined;
    const probes: GcProbe[] = [];
    /** A full GC in the store and its memory then; after round `after` (0: before round 1), with a snapshot when asked. */
    const probe = async (after: number, snapshot: boolean): Promise<GcProbe> => {
      if (!inspector) {
        const url = inspectorUrl(readFileSync(store.logFile, 'utf8'));
        if (!url) throw new Error(`--gc-probe: the store printed no inspector URL (${store.logFile})`);
        inspector = await InspectorClient.connect(url);
      }
      const m = await inspector.memoryAfterGc();
      const text = await fetch(`http://127.0.0.1:${store.httpPort}/metrics`).then((r) => r.text(), () => '');
      const p: GcProbe = { after, ...m, dedupEntries: metricValue(text, 'hawser_store_dedup_entries'), sessions: metricValue(text, 'hawser_store_sessions'), ...residentBy(store.pid!) };
      if (snapshot && snapshotDir) {
        mkdirSync(snapshotDir, { recursive: true });
        p.snapshot = join(snapshotDir, `store-after-round-${after}.heapsnapshot`);
        await inspector.heapSnapshot(p.snapshot);
      }
      probes.push(p);
      process.stdout.write(`  gc-probe   store after round ${after}, full GC: heap used ${mb(m.heapUsed)}, external ${mb(m.external)} (ArrayBuffers ${mb(m.arrayBuffers)}), `
        + `heap total ${mb(m.heapTotal)}, RSS ${mb(m.rss)} (malloc heap ${mb(p.brkRss)}, other anonymous ${mb(p.anonRss)}); dedup keys ${p.dedupEntries ?? '?'}, sessions ${p.sessions ?? '?'}${p.snapshot ? `; snapshot ${p.snapshot}` : ''}\n`);
      return p;
    };
    if (gcProbe) await probe(0, false);
    for (let round = 0; round < rounds && code === 0; round++) {
      if (rounds > 1) process.stderr.write(`[fuzz] round ${round + 1} of ${rounds}\n`);
      let report: FuzzReport | undefined;
      code = await main([
        '--uri', uris,
        '--ws', `127.0.0.1:${gateway.wsPort},127.0.0.1:${store.field('wsPort')}`,
        '--grpc', store.address,
        '--pids', `${store.pid},${gateway.pid}`,
        '--http', `127.0.0.1:${store.httpPort},127.0.0.1:${gateway.httpPort}`,
        '--seed', String((seed + round) >>> 0),
        // One witness queue for every round: a new name per round would count against broker.maxDestinations.
        ...((rounds > 1 || gcProbe) && !others.includes('--witness-queue') ? ['--witness-queue', witnessQueue] : []),
        ...others,
      ], (r) => { report = r; });
      if (report && rounds > 1 && compare(report, round)) code = 1;
      const last = round === rounds - 1;
      if ((rounds > 1 && !last && code === 0) || (gcProbe && report)) {
        const e = await emptyStore(store.address, witnessQueue);
        process.stderr.write(`[fuzz] ${last ? 'after the last round' : 'between rounds'}: deleted ${e.deleted} destinations the fuzz left (${e.inUse} still in use)\n`);
      }
      if (gcProbe && report) await probe(round + 1, round === 0 || last);
    }
    if (gcProbe && probes.length >= 3) {
      const v = heapVerdict(probes, maxHeapGrowthMb ?? DEFAULT_MAX_HEAP_GROWTH_MB);
      process.stdout.write(`  gc-probe   ${v.line}\n`);
      if (!v.ok && code === 0) code = 1;
    }
    inspector?.close();
    if (code !== 0) process.stderr.write(`[fuzz] service logs:\n${h.logTails(30)}\n`);
    return code;
  } finally {
    await h.close();
  }
}

/** Admin.Delete of every destination on the store but `keep`; returns how many went and how many were still in use. */
async function emptyStore(address: string, keep: string): Promise<{ deleted: number; inUse: number }> {
  const client = new (adminService())(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as grpc.Client & Record<string, Function>; // eslint-disable-line @typescript-eslint/no-unsafe-function-type
  const call = <T>(method: string, req: object): Promise<T> =>
    new Promise((resolve, reject) => client[method]!.call(client, req, { deadline: Date.now() + 10_000 }, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));
  let deleted = 0;
  let inUse = 0;
  try {
    // A topic with offline durable subscriptions is refused until they are gone, and they may be
    // listed after it: another pass while one deletes something.
    for (let pass = 0; pass < 3; pass++) {
      const { destinations } = await call<DestinationsReply>('Destinations', { prefix: '' });
      inUse = 0;
      let now = 0;
      for (const d of destinations) {
        if (d.name === keep || d.name.startsWith(`${keep}.`)) continue;
        try { await call('Delete', { destination: d.name }); now++; } catch { inUse++; } // a witness or pool consumer still there
      }
      deleted += now;
      if (now === 0 || inUse === 0) break;
    }
  } finally {
    client.close();
  }
  return { deleted, inUse };
}

local(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  process.stderr.write(`hawser-fuzz local: ${(e as Error).message}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
