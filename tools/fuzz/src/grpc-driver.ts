// gRPC ports (stores, coordinators): garbage where HTTP/2 is expected — random bytes, a
// truncated connection preface, the preface followed by random or malformed HTTP/2 frames —
// and real HTTP/2 calls to the services' method paths whose gRPC framing is broken (a length
// prefix past any limit, a compressed flag without an encoding, a message cut short, the
// wrong content-type). None of them ever completes a protobuf message: junk that decoded into
// a valid request could be a legitimate (unauthenticated, without mTLS) Admin.Purge, and that
// is access control's business, not robustness's.
import { connect as netConnect } from 'node:net';
import { connect as h2connect, constants as h2 } from 'node:http2';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Prng } from './prng';
import { bump, type FuzzCounters } from './stats';
import type { Target } from './stomp-driver';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** `/package.Service/Method` of every rpc in proto/hawser/*.proto (empty if not found). */
export function grpcMethodPaths(protoDir: string): string[] {
  const out: string[] = [];
  let files: string[];
  try { files = readdirSync(protoDir).filter((f) => f.endsWith('.proto')); } catch { return out; }
  for (const f of files) {
    const text = readFileSync(join(protoDir, f), 'utf8');
    const pkg = /^package\s+([\w.]+);/m.exec(text)?.[1];
    if (!pkg) continue;
    const serviceRe = /service\s+(\w+)\s*\{([\s\S]*?)\n\}/g;
    for (let s = serviceRe.exec(text); s; s = serviceRe.exec(text)) {
      const rpcRe = /rpc\s+(\w+)\s*\(/g;
      for (let r = rpcRe.exec(s[2]!); r; r = rpcRe.exec(s[2]!)) out.push(`/${pkg}.${s[1]}/${r[1]}`);
    }
  }
  return out;
}

/** An HTTP/2 frame: 9-byte header (24-bit length, type, flags, stream id) and payload. */
export function h2Frame(type: number, flags: number, stream: number, payload: Buffer, lengthOverride?: number): Buffer {
  const head = Buffer.alloc(9);
  const len = lengthOverride ?? payload.length;
  head.writeUIntBE(len & 0xffffff, 0, 3);
  head[3] = type & 0xff;
  head[4] = flags & 0xff;
  head.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([head, payload]);
}

function settings(pairs: [number, number][]): Buffer {
  const b = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, v], i) => { b.writeUInt16BE(id & 0xffff, i * 6); b.writeUInt32BE(v >>> 0, i * 6 + 2); });
  return b;
}

/** A malformed or hostile HTTP/2 frame for after the preface. */
function junkH2Frame(rng: Prng): Buffer {
  switch (rng.int(10)) {
    case 0: return h2Frame(rng.int(256), rng.int(256), rng.u32(), rng.bytes(rng.range(0, 64)));
    case 1: return h2Frame(0x4, 0, 0, settings([[rng.range(0, 10), rng.u32()], [0x4, 2 ** 31], [0x5, rng.pick([0, 1, 2 ** 24])], [0x2, 5]]));
    case 2: return h2Frame(0x4, 0, rng.range(1, 9), rng.bytes(7)); // SETTINGS on a stream, bad length
    case 3: return h2Frame(0x1, 0x4 | 0x1, rng.range(1, 99) | 1, rng.bytes(rng.range(1, 200))); // HEADERS with junk HPACK
    case 4: return h2Frame(0x0, rng.int(2), rng.range(1, 99) | 1, rng.bytes(rng.range(0, 100))); // DATA on an idle stream
    case 5: return h2Frame(0x8, 0, rng.int(5), Buffer.from([0, 0, 0, 0])); // WINDOW_UPDATE of 0
    case 6: return h2Frame(0x0, 0, 1, Buffer.alloc(0), 0xffffff); // a length far past SETTINGS_MAX_FRAME_SIZE, no payload
    case 7: return h2Frame(0x7, 0, 0, rng.bytes(rng.range(0, 20))); // GOAWAY with junk
    case 8: return h2Frame(0x9, 0, rng.range(1, 99), rng.bytes(rng.range(0, 50))); // CONTINUATION out of nowhere
    default: return Buffer.concat(Array.from({ length: rng.range(10, 300) }, () => h2Frame(0x6, 0, 0, rng.bytes(8)))); // a PING flood
  }
}

/** Raw bytes at the port: random, a cut preface, the preface then junk frames. */
export async function driveGrpcRaw(rng: Prng, target: Target, c: FuzzCounters, closeWaitMs: number): Promise<void> {
  const socket = netConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  const closedP = new Promise<void>((r) => socket.on('close', () => r()));
  await new Promise<void>((r) => { socket.once('connect', () => r()); socket.once('close', () => r()); });
  if (socket.destroyed) return;
  c.grpc.connections++;
  const mode = rng.weighted([[25, 'random'], [20, 'cut-preface'], [55, 'preface-junk']] as const);
  bump(c.grpc.statuses, `raw:${mode}`);
  const parts: Buffer[] = [];
  if (mode === 'random') parts.push(rng.bytes(rng.size(64, 16_384)));
  else if (mode === 'cut-preface') {
    parts.push(PREFACE.subarray(0, rng.int(PREFACE.length)));
    if (rng.chance(0.5)) parts.push(rng.bytes(rng.range(1, 200)));
  } else {
    parts.push(PREFACE);
    if (rng.chance(0.7)) parts.push(h2Frame(0x4, 0, 0, Buffer.alloc(0)));
    for (let i = rng.range(1, 12); i > 0; i--) parts.push(junkH2Frame(rng));
  }
  try {
    for (const p of parts) {
      c.grpc.bytes += p.length;
      socket.write(p);
      if (rng.chance(0.3)) await new Promise<void>((r) => setImmediate(r));
    }
  } catch { /* closed */ }
  if (rng.chance(0.5)) socket.end();
  else setTimeout(() => socket.destroy(), rng.range(0, 50));
  const t = setTimeout(() => socket.destroy(), closeWaitMs);
  await closedP;
  clearTimeout(t);
}

/** Real HTTP/2 calls to real method paths whose gRPC framing never yields a message. */
export async function driveGrpcCalls(rng: Prng, target: Target, paths: readonly string[], c: FuzzCounters, closeWaitMs: number): Promise<void> {
  const session = h2connect(`http://${target.host}:${target.port}`);
  session.on('error', () => undefined);
  const calls: Promise<void>[] = [];
  const n = rng.range(1, 8);
  for (let i = 0; i < n; i++) {
    const path = paths.length > 0 && rng.chance(0.85) ? rng.pick(paths) : rng.pick(['/', '/nope.Service/Method', `/${'x'.repeat(rng.range(1, 5000))}`, '/hawser.broker.v1.Broker/']);
    const mode = rng.weighted([[25, 'huge-length'], [20, 'compressed'], [25, 'cut-message'], [10, 'content-type'], [10, 'reset'], [10, 'empty']] as const);
    const headers: Record<string, string> = {
      [h2.HTTP2_HEADER_METHOD]: 'POST', [h2.HTTP2_HEADER_PATH]: path, 'content-type': mode === 'content-type' ? rng.pick(['application/json', 'text/plain', 'application/grpc+bogus']) : 'application/grpc', te: 'trailers',
    };
    if (mode === 'compressed' && rng.chance(0.5)) headers['grpc-encoding'] = rng.pick(['gzip', 'snappy', 'identity', 'x']);
    c.grpc.requests++;
    calls.push(new Promise<void>((resolve) => {
      let req: ReturnType<typeof session.request>;
      try { req = session.request(headers); } catch { resolve(); return; }
      const done = (status: string) => { clearTimeout(timer); bump(c.grpc.statuses, status); resolve(); };
      const timer = setTimeout(() => { req.close(h2.NGHTTP2_CANCEL); done('no-answer'); }, closeWaitMs);
      let grpcStatus = '';
      req.on('response', (h) => { grpcStatus = String(h['grpc-status'] ?? h[':status'] ?? ''); });
      req.on('trailers', (h) => { grpcStatus = String(h['grpc-status'] ?? grpcStatus); });
      req.on('data', () => undefined);
      req.on('error', () => undefined);
      req.on('close', () => done(`${mode}:${grpcStatus || 'closed'}`));
      const prefix = (flag: number, len: number) => { const b = Buffer.alloc(5); b[0] = flag; b.writeUInt32BE(len >>> 0, 1); return b; };
      try {
        if (mode === 'huge-length') req.end(Buffer.concat([prefix(0, rng.pick([0xffffffff, 0x7fffffff, 64 * 1024 * 1024])), rng.bytes(rng.range(0, 100))]));
        else if (mode === 'compressed') req.end(Buffer.concat([prefix(1, 16), rng.bytes(16)]));
        else if (mode === 'cut-message') req.end(Buffer.concat([prefix(0, rng.range(50, 5000)), rng.bytes(rng.range(0, 40))]));
        else if (mode === 'content-type') req.end(rng.bytes(rng.range(0, 100)));
        else if (mode === 'reset') { req.write(rng.bytes(rng.range(0, 3))); setTimeout(() => req.close(h2.NGHTTP2_INTERNAL_ERROR), rng.range(0, 20)); }
        else req.end(); // no message at all
      } catch { /* session gone */ }
    }));
  }
  await Promise.all(calls);
  c.grpc.connections++;
  session.close();
  const t = setTimeout(() => session.destroy(), closeWaitMs);
  await new Promise<void>((r) => { if (session.closed || session.destroyed) r(); else session.once('close', () => r()); });
  clearTimeout(t);
}
