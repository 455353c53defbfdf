#!/usr/bin/env node
// The floor of one hop between Hawser's services: a gRPC bidi stream (the Replication.Stream
// contract, the same channel and server options as the stores) between two processes on
// this machine, one small message each way at a time. Prints round trips per second and the
// CPU each side spends per round trip (one message received + one sent). `--tcp` does the
// same over a plain TCP socket (a 40-byte frame each way), for comparison.
//
//   node tools/bench/dist/grpc-pingpong.js [--count 5000] [--tcp] [--json]
import { fork, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { grpc, replicationService, SERVER_OPTIONS, CHANNEL_OPTIONS, type ReplicationBatch } from '@hawser/proto';

const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const MESSAGE: ReplicationBatch = { messages: [{ kind: 'ack', ack: { from: 's2', epoch: 3, incarnation: 1, received: 100, persisted: 99 } }] } as unknown as ReplicationBatch;
const WARMUP = 500;

/** The same exchange over a plain TCP socket: the cost of a hop without gRPC/HTTP/2. */
interface Hop { write(): void; onReply(fn: () => void): void; close(): void }

function tcpServer(): void {
  const srv = net.createServer((sock) => { sock.setNoDelay(true); sock.on('data', (d) => sock.write(d)); });
  srv.listen(0, '127.0.0.1', () => process.send!({ port: (srv.address() as net.AddressInfo).port }));
  process.on('message', (m) => { if (m === 'cpu') process.send!({ cpu: cpuMs() }); });
  process.on('disconnect', () => process.exit(0));
}

function tcpHop(port: number): Promise<Hop> {
  const frame = Buffer.alloc(40, 1);
  return new Promise((res) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.setNoDelay(true);
      res({ write: () => sock.write(frame), onReply: (fn) => sock.on('data', fn), close: () => sock.destroy() });
    });
  });
}

function grpcHop(port: number): Hop {
  const Rep = replicationService();
  const c = new Rep(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const call = (c as unknown as { Stream(): grpc.ClientDuplexStream<ReplicationBatch, ReplicationBatch> }).Stream();
  return { write: () => call.write(MESSAGE), onReply: (fn) => call.on('data', fn), close: () => { call.end(); c.close(); } };
}

function server(): void {
  const srv = new grpc.Server(SERVER_OPTIONS);
  srv.addService(replicationService().service, {
    Stream: (call: grpc.ServerDuplexStream<ReplicationBatch, ReplicationBatch>) => {
      call.on('data', (b: ReplicationBatch) => call.write(b));
      call.on('end', () => call.end());
    },
    Snapshot: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  });
  srv.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) { process.stderr.write(`bind: ${err.message}\n`); process.exit(1); }
    process.send!({ port });
  });
  process.on('message', (m) => { if (m === 'cpu') process.send!({ cpu: cpuMs() }); });
  process.on('disconnect', () => process.exit(0));
}

async function client(count: number, json: boolean, tcp: boolean): Promise<void> {
  const child: ChildProcess = fork(__filename, [tcp ? '--tcp-server' : '--server']);
  const port = await new Promise<number>((res) => child.once('message', (m: { port: number }) => res(m.port)));
  const serverCpu = () => new Promise<number>((res) => { child.once('message', (m: { cpu: number }) => res(m.cpu)); child.send('cpu'); });
  const hop = tcp ? await tcpHop(port) : grpcHop(port);
  let n = 0;
  let t0 = 0, c0 = 0, s0 = 0;
  await new Promise<void>((done) => {
    hop.onReply(() => {
      n++;
      if (n === WARMUP) {
        // Measured from here: the JIT has warmed up on both sides.
        void serverCpu().then((s) => { s0 = s; t0 = performance.now(); c0 = cpuMs(); hop.write(); });
        return;
      }
      if (n < WARMUP + count) hop.write();
      else done();
    });
    hop.write();
  });
  const ms = performance.now() - t0;
  const clientUs = ((cpuMs() - c0) / count) * 1000;
  const serverUs = (((await serverCpu()) - s0) / count) * 1000;
  hop.close();
  child.kill();
  const r = { transport: tcp ? 'tcp' : 'grpc', roundTrips: count, perSecond: Math.round((count / ms) * 1000), clientCpuUsPerRoundTrip: Math.round(clientUs), serverCpuUsPerRoundTrip: Math.round(serverUs) };
  process.stdout.write(json ? `${JSON.stringify(r)}\n`
    : `${tcp ? 'TCP' : 'gRPC'} ping-pong, ${count} round trips: ${r.perSecond}/s; CPU per round trip: client ${r.clientCpuUsPerRoundTrip} µs, server ${r.serverCpuUsPerRoundTrip} µs\n`);
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (argv.includes('--server')) server();
  else if (argv.includes('--tcp-server')) tcpServer();
  else {
    const i = argv.indexOf('--count');
    const count = i >= 0 ? Number(argv[i + 1]) : 5000;
    if (!Number.isInteger(count) || count < 1) { process.stderr.write('--count: expected a positive integer\n'); process.exit(2); }
    client(count, argv.includes('--json'), argv.includes('--tcp')).then(() => process.exit(0), (e: Error) => { process.stderr.write(`${e.message}\n`); process.exit(1); });
  }
}
