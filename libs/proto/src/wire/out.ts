// Writing the protobuf wire format in two passes: a size pass that records the length of every
// nested message and string (in the order they will be written), then one Buffer of exactly
// the total size, filled front to back. No per-field objects and no copy of the finished bytes
// (protobufjs's Writer queues an operation per field and copies on finish). proto3 implicit
// presence: a field at its default is not written (protobufjs writes what the object holds,
// defaults included; both decode to the same object). Field numbers must be below 16 (one-byte
// tags): true of every hot message.
//
// Values are taken as protobufjs's fromObject takes them: String(x) for strings, x >>> 0 for
// uint32, x | 0 for int32, truthiness for bool, a Number (or a decimal string) for uint64, a
// Uint8Array (or base64) for bytes.

/** Lengths recorded by the size pass; the write pass reads them back in the same order. */
let lens: number[] = [];
let next = 0;
let buf: Buffer = Buffer.alloc(0);
let pos = 0;

export const LEN = 2;
const TWO_32 = 4294967296;

// ---- size pass --------------------------------------------------------------------------------

/** Starts an encoding: the size pass comes next. */
export function start(): void { lens = []; next = 0; }

export function vlen(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function vlen64(n: number): number {
  if (n < TWO_32) return vlen(n);
  if (n >= 18446744073709551615) return 10;
  const bits = 64 - Math.clz32(Math.floor(n / TWO_32));
  return Math.ceil(bits / 7);
}

/** A uint64 as fromObject + encode would write it: 0..2^64-1 (NaN and negatives are 0). */
function u64Of(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!(n >= 1)) return 0;
  return n >= 18446744073709551615 ? 18446744073709551615 : Math.floor(n);
}

function utf8Length(s: string): number {
  const n = s.length;
  if (n > 64) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return n;
}

export function zString(v: unknown): number {
  if (v == null) return 0;
  const s = typeof v === 'string' ? v : String(v);
  if (s.length === 0) return 0;
  const n = utf8Length(s);
  lens.push(n);
  return 1 + vlen(n) + n;
}

/** A string written even when empty (a map entry's key and value, a repeated string). */
export function zStringAlways(v: unknown): number {
  const s = typeof v === 'string' ? v : String(v);
  const n = s.length === 0 ? 0 : utf8Length(s);
  lens.push(n);
  return 1 + vlen(n) + n;
}

export function zBool(v: unknown): number { return v ? 2 : 0; }

export function zU32(v: unknown): number {
  if (v == null) return 0;
  const n = (v as number) >>> 0;
  return n === 0 ? 0 : 1 + vlen(n);
}

export function zI32(v: unknown): number {
  if (v == null) return 0;
  const n = (v as number) | 0;
  return n === 0 ? 0 : n < 0 ? 11 : 1 + vlen(n);
}

export function zU64(v: unknown): number {
  if (v == null || v === 0) return 0;
  const n = u64Of(v);
  return n === 0 ? 0 : 1 + vlen64(n);
}

function bytesOf(v: unknown): Uint8Array {
  return typeof v === 'string' ? Buffer.from(v, 'base64') : (v as Uint8Array);
}

export function zBytes(v: unknown): number {
  if (v == null) return 0;
  const n = bytesOf(v).length;
  return n === 0 ? 0 : 1 + vlen(n) + n;
}

/** Reserves the length of a nested message; `done` records it once its fields are sized. */
export function zOpen(): number { lens.push(0); return lens.length - 1; }
export function zClose(slot: number, size: number): number { lens[slot] = size; return 1 + vlen(size) + size; }

// ---- write pass -------------------------------------------------------------------------------

/** Allocates the output once the size pass gave its total. */
export function alloc(total: number): void { buf = Buffer.allocUnsafe(total); pos = 0; next = 0; }

/** The encoded bytes; checks that the two passes agreed. */
export function finish(): Buffer {
  if (pos !== buf.length || next !== lens.length) throw new Error(`wire: size pass and write pass disagree (${pos}/${buf.length} bytes, ${next}/${lens.length} lengths)`);
  const out = buf;
  buf = Buffer.alloc(0);
  lens = [];
  return out;
}

function varint(n: number): void {
  while (n >= 0x80) { buf[pos++] = (n & 0x7f) | 0x80; n >>>= 7; }
  buf[pos++] = n;
}

function varint64(n: number): void {
  if (n < TWO_32) { varint(n); return; }
  let hi = Math.floor(n / TWO_32);
  let lo = (n - hi * TWO_32) >>> 0;
  if (hi >= TWO_32) { hi = 0xffffffff; lo = 0xffffffff; }
  // protobufjs's writeVarint64
  while (hi) { buf[pos++] = (lo & 0x7f) | 0x80; lo = ((lo >>> 7) | (hi << 25)) >>> 0; hi >>>= 7; }
  varint(lo);
}

function putString(s: string, n: number): void {
  varint(n);
  if (n === s.length && n <= 64) {
    for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i);
  } else if (n > 0) {
    buf.write(s, pos, n, 'utf8');
  }
  pos += n;
}

export function wString(field: number, v: unknown): void {
  if (v == null) return;
  const s = typeof v === 'string' ? v : String(v);
  if (s.length === 0) return;
  buf[pos++] = (field << 3) | LEN;
  putString(s, lens[next++]!);
}

export function wStringAlways(field: number, v: unknown): void {
  const s = typeof v === 'string' ? v : String(v);
  buf[pos++] = (field << 3) | LEN;
  putString(s, lens[next++]!);
}

export function wBool(field: number, v: unknown): void {
  if (v) { buf[pos++] = field << 3; buf[pos++] = 1; }
}

export function wU32(field: number, v: unknown): void {
  if (v == null) return;
  const n = (v as number) >>> 0;
  if (n !== 0) { buf[pos++] = field << 3; varint(n); }
}

export function wI32(field: number, v: unknown): void {
  if (v == null) return;
  const n = (v as number) | 0;
  if (n === 0) return;
  buf[pos++] = field << 3;
  if (n > 0) { varint(n); return; }
  // a negative int32 is sign-extended to 64 bits: 10 bytes
  let lo = n >>> 0;
  for (let i = 0; i < 4; i++) { buf[pos++] = (lo & 0x7f) | 0x80; lo >>>= 7; }
  buf[pos++] = (lo & 0x7f) | 0x80 | 0x70; // bits 28-31 of lo, then ones
  for (let i = 0; i < 4; i++) buf[pos++] = 0xff;
  buf[pos++] = 0x01;
}

export function wU64(field: number, v: unknown): void {
  if (v == null || v === 0) return;
  const n = u64Of(v);
  if (n !== 0) { buf[pos++] = field << 3; varint64(n); }
}

export function wBytes(field: number, v: unknown): void {
  if (v == null) return;
  const b = bytesOf(v);
  if (b.length === 0) return;
  buf[pos++] = (field << 3) | LEN;
  varint(b.length);
  buf.set(b, pos);
  pos += b.length;
}

/** Opens a nested message whose length the size pass recorded. */
export function wOpen(field: number): void {
  buf[pos++] = (field << 3) | LEN;
  varint(lens[next++]!);
}

/** A nested message given as its encoded bytes (written even when empty: it is present). */
export function zRaw(b: Uint8Array): number { return 1 + vlen(b.length) + b.length; }
export function wRaw(field: number, b: Uint8Array): void {
  buf[pos++] = (field << 3) | LEN;
  varint(b.length);
  buf.set(b, pos);
  pos += b.length;
}

/** A map<string, string> entry: key = 1, value = 2, both written (as protobufjs does). */
export function zEntry(k: unknown, v: unknown): number {
  const n = zStringAlways(k) + zStringAlways(v);
  return 1 + vlen(n) + n;
}
export function wEntry(field: number, k: unknown, v: unknown): void {
  const kl = lens[next]!;
  const vl = lens[next + 1]!;
  buf[pos++] = (field << 3) | LEN;
  varint(2 + vlen(kl) + kl + vlen(vl) + vl);
  wStringAlways(1, k);
  wStringAlways(2, v);
}
