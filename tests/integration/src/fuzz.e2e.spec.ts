// Fuzzing (issue 10): tools/fuzz's CLI against real processes — a standalone store serving
// clients itself (embedded gateway) and a separate gateway in front of it. Generated, mutated
// and garbage STOMP frames over many connections to both gateways, garbage on both WebSocket
// ports and on the store's gRPC port, while a witness client on each gateway sends persistent
// messages with receipts and consumes them. Asserted from the fuzzer's JSON report and here:
// no process died, every witness message came exactly once, its receipts never stopped for
// long, RSS did not grow past start + 200 MB. A fixed seed (replayable) and a few random ones
// (printed, so a failure can be replayed with `--seed`).
//
// The same for MQTT (--protocol mqtt, tools/fuzz/src/mqtt-packets.ts): malformed and hostile
// packets at both gateways' MQTT ports beside mqtt.js witnesses publishing at QoS 1.
//
// Plus the crash the fuzzer found, as a plain scenario: a STOMP 1.2 producer's header with a
// CR (and a ':' in a name) delivered to 1.1 and 1.0 subscribers killed the gateway process.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { Harness, ROOT, checkFor, type Gateway, type Store } from './harness';
import { Clients, unique, pidAlive } from './support';

const CLI = join(ROOT, 'tools/fuzz/dist/cli.js');
const RSS_GROWTH_MB = 200;
// RSS when the fuzz ends may exceed RSS at its middle by this much. Measured (docs/security.md,
// "Store memory"): a store's RSS swings by up to ~3x its live heap (V8's headroom between major
// GCs, 50-190 MB at 1,000,000 frames) whatever the frame count; a leak of 10 KB a frame would
// cross it within the 10,000 frames of this run's second half. The long runs bound rounds instead
// (local.js --rounds N --max-round-growth MB).
const RSS_LATE_GROWTH_MB = 100;
const RECEIPT_GAP_MS = 10_000;

interface Report {
  seed: number;
  ok: boolean;
  failures: string[];
  durationMs: number;
  framesPerSecond: number;
  counters: {
    frames: number; valid: number; mutated: number; garbage: number; connections: number; connected: number;
    errors: Record<string, number>; badServerOutput: number;
    ws: { connections: number; upgraded: number }; grpc: { connections: number; requests: number };
  };
  witnesses: Array<{ uri: string; receipted: number; received: number; missing: number; duplicates: number; maxGapMs: number; errors: string[] }>;
  rss: Array<{ name: string; source: string; start?: number; middle?: number; end?: number; fds?: { start?: number; end?: number } }>;
  processes: Array<{ name: string; alive: boolean }>;
}

/** Runs the fuzzer's CLI as its own process; resolves with its exit code, JSON report and stderr. */
function fuzz(args: string[], deadlineMs: number): Promise<{ code: number | null; report: Report | undefined; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      let report: Report | undefined;
      try { report = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Report; } catch { /* reported by the caller */ }
      resolve({ code, report, stderr, stdout });
    });
  });
}

/** Sockets in CLOSE_WAIT (the peer closed, we did not) whose local port is `port` (/proc/net/tcp{,6}, state 08). */
function closeWaitOn(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '08') n++;
    }
  }
  return n;
}

const fdCount = (pid: number | undefined): number => readdirSync(`/proc/${pid}/fd`).length;

describe('fuzzing', { timeout: 240_000 }, () => {
  const h = new Harness('fuzz');
  let store: Store;
  let gateway: Gateway;
  const clients = new Clients(() => gateway.stompUri);

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} does not exist: build it first (npx tsc -b tools/fuzz)`);
    // MQTT on too: the --protocol mqtt run goes to both gateways' MQTT ports.
    store = await h.startStore({ args: ['--gateway.enabled', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0', '--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', '0'] });
    gateway = await h.startGateway(store, { args: ['--mqtt.enabled', 'true', '--mqtt.port', '0'] });
  });
  afterEach((t) => h.reportIfFailed(t));
  after(async () => {
    await clients.closeAll();
    await h.close();
  });

  const common = () => [
    '--uri', `${gateway.stompUri},${store.stompUri}`,
    '--ws', `127.0.0.1:${gateway.wsPort},127.0.0.1:${store.field('wsPort')}`,
    '--grpc', store.address,
    '--pids', `${store.pid},${gateway.pid}`,
    '--http', `127.0.0.1:${store.httpPort},127.0.0.1:${gateway.httpPort}`,
    '--max-receipt-gap', String(RECEIPT_GAP_MS), '--max-rss-growth', String(RSS_GROWTH_MB), '--max-rss-late-growth', String(RSS_LATE_GROWTH_MB),
    '--close-wait', '5000', '--progress', '5000',
  ];

  function check(run: Awaited<ReturnType<typeof fuzz>>, frames: number): Report {
    const r = run.report;
    assert.ok(r, `no JSON report (exit ${run.code}); stderr:\n${run.stderr.slice(-3000)}\nstdout:\n${run.stdout.slice(-2000)}`);
    const c = r.counters;
    const why = `seed ${r.seed} (replay: node tools/fuzz/dist/cli.js --seed ${r.seed} ...): ${r.failures.join('; ')}`;
    assert.deepEqual(r.failures, [], why);
    assert.equal(r.ok, true, why);
    assert.equal(run.code, 0, why);
    assert.ok(c.frames >= frames, `frames ${c.frames} < ${frames}`);
    // The fuzz did reach the gateways: frames were answered, refused and connections accepted.
    assert.ok(c.connected > 0 && Object.keys(c.errors).length > 5, `CONNECTED ${c.connected}, ERROR kinds ${Object.keys(c.errors).length}`);
    assert.ok(c.valid > 0 && c.mutated > 0 && c.garbage > 0, JSON.stringify({ valid: c.valid, mutated: c.mutated, garbage: c.garbage }));
    assert.equal(c.badServerOutput, 0);
    assert.ok(c.ws.connections > 0 && c.ws.upgraded > 0, `WebSocket ${JSON.stringify(c.ws)}`);
    assert.ok(c.grpc.connections > 0 && c.grpc.requests > 0, `gRPC ${JSON.stringify(c.grpc)}`);
    assert.equal(r.witnesses.length, 2);
    for (const w of r.witnesses) {
      assert.ok(w.receipted > 0, `witness on ${w.uri} got receipts`);
      assert.equal(w.missing, 0, `witness on ${w.uri}: every message came`);
      assert.equal(w.duplicates, 0, `witness on ${w.uri}: none twice`);
      assert.equal(w.received, w.receipted, `witness on ${w.uri}: received ${w.received} of ${w.receipted}`);
      assert.ok(w.maxGapMs <= RECEIPT_GAP_MS, `witness on ${w.uri}: longest silence ${w.maxGapMs} ms`);
      assert.deepEqual(w.errors, []);
    }
    for (const f of r.rss.filter((x) => x.source === 'proc')) {
      assert.ok(f.start !== undefined && f.end !== undefined, `${f.name}: RSS figures ${JSON.stringify(f)}`);
      assert.ok(f.end! < f.start! + RSS_GROWTH_MB * 1048576, `${f.name}: RSS ${f.start} -> ${f.end}`);
    }
    // The gateway closes every fuzz connection (its fds come back); the store's are reported (see the todo below).
    const gwFds = r.rss.find((x) => x.name === `pid ${gateway.pid}`)?.fds;
    assert.ok(gwFds?.start !== undefined && gwFds.end !== undefined && gwFds.end <= gwFds.start + 20, `gateway fds ${JSON.stringify(gwFds)}`);
    assert.ok(r.processes.every((p) => p.alive), JSON.stringify(r.processes));
    assert.ok(pidAlive(store.pid) && pidAlive(gateway.pid), 'store and gateway processes alive');
    process.stderr.write(`[fuzz e2e] seed ${r.seed}: ${c.frames} frames, ${c.connections} connections, ${r.framesPerSecond} frames/s, `
      + `${Object.values(c.errors).reduce((a, b) => a + b, 0)} ERRORs, RSS ${r.rss.filter((x) => x.source === 'proc').map((x) => `${x.name} ${Math.round((x.start ?? 0) / 1048576)}->${Math.round((x.end ?? 0) / 1048576)} MB, fds ${x.fds?.start}->${x.fds?.end}`).join(', ')}\n`);
    return r;
  }

  it('20,000 frames with the fixed seed 1: nothing dies, the witnesses lose nothing, RSS bounded', { timeout: 150_000 }, async () => {
    check(await fuzz([...common(), '--frames', '20000', '--seed', '1'], 140_000), 20_000);
  });

  it('a few random seeds (printed for replay), 3,000 frames each', { timeout: 90_000 }, async () => {
    for (let i = 0; i < 2; i++) {
      const seed = randomInt(2 ** 31);
      process.stderr.write(`[fuzz e2e] random seed ${seed}\n`);
      check(await fuzz([...common(), '--frames', '3000', '--seed', String(seed), '--concurrency', '16'], 40_000), 3000);
    }
  });

  it('MQTT (--protocol mqtt): 6,000 packets with the fixed seed 1 at both gateways\' MQTT ports — nothing dies, the mqtt.js witnesses lose nothing', { timeout: 150_000 }, async () => {
    const run = await fuzz([
      '--protocol', 'mqtt', '--uri', `mqtt://127.0.0.1:${gateway.field('mqttPort')},mqtt://127.0.0.1:${store.field('mqttPort')}`,
      '--pids', `${store.pid},${gateway.pid}`, '--http', `127.0.0.1:${store.httpPort},127.0.0.1:${gateway.httpPort}`,
      '--max-receipt-gap', String(RECEIPT_GAP_MS), '--max-rss-growth', String(RSS_GROWTH_MB), '--close-wait', '5000', '--progress', '5000',
      '--frames', '6000', '--seed', '1',
    ], 140_000);
    const r = run.report;
    assert.ok(r, `no JSON report (exit ${run.code}); stderr:\n${run.stderr.slice(-3000)}\nstdout:\n${run.stdout.slice(-2000)}`);
    const c = r.counters;
    const why = `seed ${r.seed} (replay: node tools/fuzz/dist/cli.js --protocol mqtt --seed ${r.seed} ...): ${r.failures.join('; ')}`;
    assert.deepEqual(r.failures, [], why);
    assert.equal(run.code, 0, why);
    assert.ok(c.frames >= 6000, `packets ${c.frames}`);
    // It reached the gateways: sessions were accepted, bad input refused, hostile packets sent.
    assert.ok(c.connected > 20, `CONNACK 0 on ${c.connected} connections`);
    assert.ok(c.valid > 0 && c.mutated > 0 && c.garbage > 0, JSON.stringify({ valid: c.valid, mutated: c.mutated, garbage: c.garbage }));
    assert.equal(c.badServerOutput, 0, 'every byte the gateways sent is MQTT');
    assert.equal(r.witnesses.length, 2);
    for (const w of r.witnesses) {
      assert.ok(w.receipted > 0, `witness on ${w.uri} got PUBACKs`);
      assert.deepEqual([w.missing, w.duplicates, w.received], [0, 0, w.receipted], `witness on ${w.uri}`);
      assert.ok(w.maxGapMs <= RECEIPT_GAP_MS, `witness on ${w.uri}: longest silence ${w.maxGapMs} ms`);
      assert.deepEqual(w.errors, []);
    }
    for (const f of r.rss.filter((x) => x.source === 'proc')) assert.ok(f.end! < f.start! + RSS_GROWTH_MB * 1048576, `${f.name}: RSS ${f.start} -> ${f.end}`);
    const gwFds = r.rss.find((x) => x.name === `pid ${gateway.pid}`)?.fds;
    assert.ok(gwFds?.start !== undefined && gwFds.end !== undefined && gwFds.end <= gwFds.start + 20, `gateway fds ${JSON.stringify(gwFds)}`);
    assert.ok(pidAlive(store.pid) && pidAlive(gateway.pid), 'store and gateway processes alive');
    // The gateways closed bad input as MQTT requires, and counted it.
    const text = await (await fetch(`http://127.0.0.1:${gateway.httpPort}/metrics`)).text();
    assert.match(text, /hawser_gateway_mqtt_protocol_errors_total\{[^}]*reason="malformed"[^}]*\} [1-9]/);
    process.stderr.write(`[fuzz e2e] MQTT seed ${r.seed}: ${c.frames} packets, ${c.connections} connections (${c.connected} CONNACK 0), ${r.framesPerSecond} packets/s, `
      + `witnesses ${r.witnesses.map((w) => w.receipted).join('/')} PUBACKed, RSS ${r.rss.filter((x) => x.source === 'proc').map((x) => `${x.name} ${Math.round((x.start ?? 0) / 1048576)}->${Math.round((x.end ?? 0) / 1048576)} MB`).join(', ')}\n`);
  });

  it('the crash it found: a 1.2 producer\'s CR and \':\' in headers reach 1.1 and 1.0 subscribers on both gateways', { timeout: 30_000 }, async () => {
    for (const uri of [gateway.stompUri, store.stompUri]) {
      const q = unique('/queue/fuzz-regression');
      const v11 = await clients.connect({ version: '1.1' }, uri);
      const v10 = await clients.connect({ version: '1.0' }, uri);
      const s11 = await v11.subscribe(q);
      const s10 = await v10.subscribe(q, { id: 's10' });
      const producer = await clients.connect({ version: '1.2' }, uri);
      await producer.send(q, 'one', { headers: { 'x-cr': 'a\rb', 'x:name': 'colon', 'x-lf': 'a\nb' } });
      await producer.send(q, 'two', { headers: { 'x-cr': 'c\rd' } });
      // A queue: each message goes to one of the two subscribers.
      const got = [await s11.tryNext(5000), await s10.tryNext(5000), await s11.tryNext(500), await s10.tryNext(500)].filter((m) => m !== undefined);
      assert.deepEqual(got.map((m) => m!.text).sort(), ['one', 'two'], 'both messages delivered');
      for (const m of got) assert.match(m!.headers['x-cr'] ?? '', /^[ac] [bd]$/, `x-cr ${JSON.stringify(m!.headers['x-cr'])}`);
      assert.equal(v11.connected && v10.connected && producer.connected, true);
    }
    assert.ok(pidAlive(store.pid) && pidAlive(gateway.pid), 'store and gateway processes alive');
  });
  // Found by the fuzzer (docs/security.md, Fuzzing): after an HTTP/2 connection error (here
  // SETTINGS on a stream), Node's http2 server (v20; grpc-js 1.14 is on it) sends GOAWAY but
  // never closes the socket; the client's FIN left it in CLOSE_WAIT for ever, one fd and one
  // session each. The stores' gRPC servers now ping every connection (SERVER_OPTIONS keepalive
  // 20 s + 5 s): a peer that is gone is closed within ~25 s.
  it('a gRPC connection ended after an HTTP/2 protocol error is closed by the store', { timeout: 60_000 }, async () => {
    const fdsBefore = fdCount(store.pid);
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const settingsOnStream = Buffer.from([0, 0, 7, 4, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
    for (let i = 0; i < 10; i++) {
      // Write, FIN, and after a moment close our side for good (the store's side is the question).
      await new Promise<void>((resolve) => {
        const s = netConnect(store.grpcPort, '127.0.0.1', () => { s.write(Buffer.concat([preface, settings, settingsOnStream])); s.end(); });
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        s.on('close', () => resolve());
        setTimeout(() => { s.destroy(); resolve(); }, 200);
      });
    }
    await checkFor(45_000, 500, () => {
      const waiting = closeWaitOn(store.grpcPort);
      assert.equal(waiting, 0, `${waiting} sockets in CLOSE_WAIT on the store's gRPC port; store fds ${fdsBefore} -> ${fdCount(store.pid)}`);
    });
    assert.ok(pidAlive(store.pid));
  });
});
