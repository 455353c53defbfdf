// Mutations of generated frames (bit flips, interesting bytes, truncation, splicing, repeated
// runs, deleted or doubled lines), plain garbage, and the split of a byte stream into TCP
// writes at random points. Pure.
import type { Prng } from './prng';

export type Mutation = 'bitflip' | 'bytes' | 'truncate' | 'splice' | 'repeat' | 'insert' | 'delete' | 'line' | 'nul' | 'case';

const INTERESTING = [0x00, 0x0a, 0x0d, 0x3a, 0x5c, 0xff, 0x80, 0xc0, 0xef, 0xbb, 0xbf, 0x7f, 0x20, 0x25, 0x27];

/** One to three mutations of `frame`; `other` is another frame to splice with. */
export function mutate(rng: Prng, frame: Buffer, other: Buffer): { bytes: Buffer; mutations: Mutation[] } {
  let b: Buffer = Buffer.from(frame);
  const done: Mutation[] = [];
  const n = rng.weighted([[60, 1], [30, 2], [10, 3]] as const);
  for (let i = 0; i < n; i++) {
    const m = rng.weighted<Mutation>([
      [20, 'bitflip'], [15, 'bytes'], [12, 'truncate'], [10, 'splice'], [8, 'repeat'], [8, 'insert'], [8, 'delete'], [10, 'line'], [6, 'nul'], [3, 'case'],
    ]);
    b = apply(rng, m, b, other);
    done.push(m);
  }
  return { bytes: b, mutations: done };
}

function apply(rng: Prng, m: Mutation, b: Buffer, other: Buffer): Buffer {
  const at = () => rng.int(b.length + 1);
  switch (m) {
    case 'bitflip': {
      if (b.length === 0) return b;
      for (let k = rng.range(1, 8); k > 0; k--) { const i = rng.int(b.length); b[i] = b[i]! ^ (1 << rng.int(8)); }
      return b;
    }
    case 'bytes': {
      if (b.length === 0) return b;
      for (let k = rng.range(1, 4); k > 0; k--) b[rng.int(b.length)] = rng.pick(INTERESTING);
      return b;
    }
    case 'truncate': return b.subarray(0, at());
    case 'splice': return Buffer.concat([b.subarray(0, at()), other.subarray(rng.int(other.length + 1))]);
    case 'repeat': {
      // A run: one byte or a slice repeated, sometimes far past the header and frame limits.
      const i = rng.int(b.length);
      const len = Math.min(rng.range(1, 16), b.length - i);
      const times = rng.weighted([[60, rng.range(2, 20)], [30, rng.range(100, 2000)], [10, rng.range(5000, 40_000)]] as const);
      const piece = b.subarray(i, i + Math.max(len, 0));
      if (piece.length === 0) return b;
      return Buffer.concat([b.subarray(0, i), Buffer.alloc(piece.length * times, piece), b.subarray(i)]);
    }
    case 'insert': {
      const i = at();
      return Buffer.concat([b.subarray(0, i), rng.bytes(rng.range(1, 32)), b.subarray(i)]);
    }
    case 'delete': {
      const i = at();
      return Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + rng.range(1, 32)))]);
    }
    case 'line': {
      // Delete, double or swap whole lines (header lines, the blank line, the command).
      const lines = splitLines(b);
      if (lines.length < 2) return b;
      const i = rng.int(lines.length);
      const op = rng.int(3);
      if (op === 0) lines.splice(i, 1);
      else if (op === 1) lines.splice(i, 0, lines[i]!);
      else { const j = rng.int(lines.length); [lines[i], lines[j]] = [lines[j]!, lines[i]!]; }
      return Buffer.concat(lines);
    }
    case 'nul': {
      // Add or remove a NUL: ends a frame early, or runs it into the next one.
      const z = b.indexOf(0);
      if (z >= 0 && rng.chance(0.5)) return Buffer.concat([b.subarray(0, z), b.subarray(z + 1)]);
      const i = at();
      return Buffer.concat([b.subarray(0, i), Buffer.from([0]), b.subarray(i)]);
    }
    case 'case': {
      const nl = b.indexOf(0x0a);
      const end = nl < 0 ? b.length : nl;
      for (let i = 0; i < end; i++) if (rng.chance(0.5)) b[i] = b[i]! ^ 0x20;
      return b;
    }
  }
}

/** Lines with their terminating LF kept, so concatenating them gives the buffer back. */
export function splitLines(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (;;) {
    const nl = b.indexOf(0x0a, from);
    if (nl < 0) { if (from < b.length) out.push(b.subarray(from)); return out; }
    out.push(b.subarray(from, nl + 1));
    from = nl + 1;
  }
}

/** Garbage: random bytes, text that looks like another protocol, or long runs. */
export function garbage(rng: Prng): Buffer {
  return rng.weighted<() => Buffer>([
    [40, () => rng.bytes(rng.size(64, 8192))],
    [10, () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    [8, () => Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    [8, () => Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...rng.bytes(64)])], // a TLS ClientHello start
    [10, () => Buffer.alloc(rng.size(1000, 100_000), rng.pick([0x0a, 0x00, 0x41, 0x3a, 0xff]))],
    [8, () => Buffer.from(Array.from({ length: rng.range(1, 200) }, () => String.fromCharCode(rng.range(0x20, 0x7e))).join(''))],
    [6, () => Buffer.from('\r\n'.repeat(rng.range(1, 5000)))],
    [5, () => Buffer.from(`SEND\n${'destination:/queue/fuzz.0\n'.repeat(rng.range(1, 3000))}\n\0`)],
    [5, () => Buffer.from(`SEND\ndestination:/queue/fuzz.0\ncontent-length:${rng.pick(['4294967296', '-1', '99999999999', '1e9', '0x10'])}\n\n${'b'.repeat(rng.range(0, 100))}\0`)],
  ])();
}

/**
 * Splits `data` into writes at random points: mostly as is, often in a few pieces, sometimes
 * byte by byte for a stretch (each piece its own TCP write).
 */
export function split(rng: Prng, data: Buffer): Buffer[] {
  const mode = rng.weighted([[55, 'whole'], [35, 'pieces'], [10, 'bytes']] as const);
  if (mode === 'whole' || data.length < 2) return [data];
  const out: Buffer[] = [];
  let i = 0;
  if (mode === 'bytes') {
    const start = rng.int(data.length);
    const stop = Math.min(data.length, start + rng.range(1, 64));
    if (start > 0) out.push(data.subarray(0, start));
    for (i = start; i < stop; i++) out.push(data.subarray(i, i + 1));
    if (stop < data.length) out.push(data.subarray(stop));
    return out;
  }
  const cuts = new Set<number>();
  for (let k = rng.range(1, 6); k > 0; k--) cuts.add(1 + rng.int(data.length - 1));
  for (const c of [...cuts].sort((a, b) => a - b)) { out.push(data.subarray(i, c)); i = c; }
  out.push(data.subarray(i));
  return out;
}
