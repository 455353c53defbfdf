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
//   node tools/fuzz/dist/local.js --frames 1000000 --seed 1 [--rounds 2] [--store-arg --flag --store-arg value] [--json]
import { adminService, CHANNEL_OPTIONS, grpc, type DestinationsReply } from '@hawser/proto';
import { Harness } from '@hawser/integration/dist/harness';
import { main, UsageError } from './cli';
import { mb } from './monitor';
import type { FuzzReport } from './run';

async function local(argv: string[]): Promise<number> {
  const storeArgs: string[] = [];
  const gatewayArgs: string[] = [];
  const rest: string[] = [];
  let rounds = 1;
  let maxRoundGrowthMb: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds' || argv[i] === '--max-round-growth') {
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
    const store = await h.startStore({ args: ['--gateway.enabled', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0',
      ...(mqtt ? ['--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', '0'] : []), ...storeArgs] });
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
        ...(rounds > 1 && !others.includes('--witness-queue') ? ['--witness-queue', `/queue/fuzz-witness.local.${seed}`] : []),
        ...others,
      ], (r) => { report = r; });
      if (report && rounds > 1 && compare(report, round)) code = 1;
      if (rounds > 1 && round < rounds - 1 && code === 0) {
        const witness = others.includes('--witness-queue') ? others[others.indexOf('--witness-queue') + 1]! : `/queue/fuzz-witness.local.${seed}`;
        const e = await emptyStore(store.address, witness);
        process.stderr.write(`[fuzz] between rounds: deleted ${e.deleted} destinations the fuzz left (${e.inUse} still in use)\n`);
      }
    }
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
    const { destinations } = await call<DestinationsReply>('Destinations', { prefix: '' });
    for (const d of destinations) {
      if (d.name === keep || d.name.startsWith(`${keep}.`)) continue;
      try { await call('Delete', { destination: d.name }); deleted++; } catch { inUse++; } // a witness or pool consumer still there
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
