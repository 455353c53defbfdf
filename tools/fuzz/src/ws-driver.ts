// The WebSocket port: garbage instead of an HTTP request, broken upgrade requests, and after
// a good upgrade, WebSocket frames that carry fuzzed STOMP (a ConnectionScript) mixed with
// frames RFC 6455 forbids (unmasked, reserved bits and opcodes, lengths of 2^63, fragmented
// or oversized control frames, bad close codes, invalid UTF-8 in text frames).
import { connect as netConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Prng } from './prng';
import { ConnectionScript } from './script';
import { garbage } from './mutate';
import { bump, type FuzzCounters } from './stats';
import type { Target } from './stomp-driver';
import type { GeneratorOptions } from './frames';

/** One WebSocket frame (client side: masked unless `unmasked`). */
export function wsFrame(opcode: number, payload: Buffer, o: { fin?: boolean; rsv?: number; unmasked?: boolean; lengthOverride?: bigint } = {}): Buffer {
  const fin = o.fin ?? true;
  const head: number[] = [(fin ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | (opcode & 0x0f)];
  const len = o.lengthOverride ?? BigInt(payload.length);
  const mask = o.unmasked ? 0 : 0x80;
  let ext: Buffer;
  if (len < 126n) { head.push(mask | Number(len)); ext = Buffer.alloc(0); }
  else if (len < 65536n) { head.push(mask | 126); ext = Buffer.alloc(2); ext.writeUInt16BE(Number(len)); }
  else { head.push(mask | 127); ext = Buffer.alloc(8); ext.writeBigUInt64BE(len & 0xffffffffffffffffn); }
  if (o.unmasked) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

function upgradeRequest(rng: Prng, target: Target, broken: boolean): string {
  const lines = [
    'GET / HTTP/1.1', `Host: ${target.host}:${target.port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Protocol: ${rng.pick(['v12.stomp', 'v11.stomp, v12.stomp', 'v10.stomp', 'stomp'])}`,
  ];
  if (broken) {
    const b = rng.int(8);
    if (b === 0) lines.splice(4, 1); // no key
    else if (b === 1) lines[5] = 'Sec-WebSocket-Version: 99';
    else if (b === 2) lines[0] = 'POST / HTTP/1.1';
    else if (b === 3) lines.push(`X-Big: ${'a'.repeat(rng.range(10_000, 200_000))}`);
    else if (b === 4) lines[4] = 'Sec-WebSocket-Key: ' + 'A'.repeat(rng.range(0, 300));
    else if (b === 5) for (let i = 0; i < rng.range(100, 3000); i++) lines.push(`X-H${i}: v`);
    else if (b === 6) lines[0] = `GET /${'%ff'.repeat(rng.range(1, 3000))} HTTP/1.1`;
    else lines.push('Origin: http://evil.example');
  }
  return lines.join('\r\n') + '\r\n\r\n';
}

/** A WebSocket frame that breaks a rule of RFC 6455. */
function badWsFrame(rng: Prng): Buffer {
  switch (rng.int(9)) {
    case 0: return wsFrame(0x2, rng.bytes(rng.range(0, 64)), { unmasked: true });
    case 1: return wsFrame(0x2, rng.bytes(8), { rsv: rng.range(1, 7) });
    case 2: return wsFrame(rng.pick([0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xf]), rng.bytes(8));
    case 3: return wsFrame(0x2, Buffer.alloc(0), { lengthOverride: rng.pick([2n ** 63n - 1n, 2n ** 32n, 2n ** 40n]) });
    case 4: return wsFrame(0x9, rng.bytes(rng.range(126, 300))); // a ping over 125 bytes
    case 5: return wsFrame(0x9, rng.bytes(4), { fin: false }); // a fragmented control frame
    case 6: return wsFrame(0x8, Buffer.from([rng.int(256), rng.int(256), 0xff, 0xfe])); // close: odd code, bad UTF-8 reason
    case 7: return wsFrame(0x1, Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xff])); // text frame, invalid UTF-8
    default: return wsFrame(0x0, rng.bytes(16)); // a continuation with nothing to continue
  }
}

export interface WsDriveOptions { closeWaitMs: number; maxFrames: number; gen?: GeneratorOptions }

/** One connection to the WebSocket port; returns the number of STOMP frames it carried. Never throws. */
export async function driveWs(rng: Prng, target: Target, c: FuzzCounters, o: WsDriveOptions): Promise<number> {
  const mode = rng.weighted([[15, 'garbage'], [15, 'broken-upgrade'], [70, 'frames']] as const);
  const socket = netConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  let closed = false;
  let head = '';
  let upgraded = false;
  let headDone = false;
  let onHead: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    if (headDone) return;
    head += chunk.toString('latin1');
    const end = head.indexOf('\r\n\r\n');
    if (end < 0 && head.length < 65536) return;
    headDone = true;
    const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 'no-status';
    bump(c.ws.statuses, status);
    if (status === '101') { upgraded = true; c.ws.upgraded++; }
    onHead?.();
  });
  socket.on('error', () => undefined);
  const closedP = new Promise<void>((r) => socket.on('close', () => { closed = true; onHead?.(); r(); }));
  await new Promise<void>((r) => { socket.once('connect', () => r()); socket.once('close', () => r()); });
  if (closed) return 0;
  c.ws.connections++;
  let frames = 0;
  const wait = (ms: number) => new Promise<void>((r) => { const t = setTimeout(r, ms); onHead = () => { clearTimeout(t); r(); }; });
  try {
    if (mode === 'garbage') {
      socket.write(garbage(rng));
    } else {
      socket.write(upgradeRequest(rng, target, mode === 'broken-upgrade'));
      await wait(o.closeWaitMs);
      if (upgraded) {
        const script = new ConnectionScript(rng, o.maxFrames, o.gen);
        for (let b = script.next(); b && !closed; b = script.next()) {
          const stomp = Buffer.concat(b.writes);
          // STOMP over WebSocket: a frame per message, or the bytes spread over fragments.
          if (rng.chance(0.1)) socket.write(badWsFrame(rng));
          else if (rng.chance(0.15) && stomp.length > 1) {
            const cut = 1 + rng.int(stomp.length - 1);
            socket.write(wsFrame(0x2, stomp.subarray(0, cut), { fin: false }));
            socket.write(wsFrame(0x0, stomp.subarray(cut)));
          } else socket.write(wsFrame(rng.chance(0.7) ? 0x1 : 0x2, stomp));
          frames += b.frames;
          c.ws.frames++;
          await new Promise<void>((r) => setImmediate(r));
        }
        if (!closed && rng.chance(0.5)) socket.write(wsFrame(0x8, Buffer.from([0x03, 0xe8])));
      }
    }
  } catch { /* the server closed */ }
  if (!closed) socket.end();
  const t = setTimeout(() => socket.destroy(), o.closeWaitMs);
  await closedP;
  clearTimeout(t);
  return frames;
}
