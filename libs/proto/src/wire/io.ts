// Reading the protobuf wire format for the hot messages (docs/architecture.md, "Hand-written
// serializers"; writing is ./out.ts): our own cursor over the Buffer grpc-js hands us, with
// protobufjs's semantics: a field is recognised by its number, unknown ones are skipped, a
// scalar seen twice keeps the last, uint64 becomes a Number (LOADER_OPTIONS longs: Number)
// exactly as Long#toNumber(true) would round it.

/** Wire type of a length-delimited field (protobuf encoding spec). */
export const LEN = 2;

const indexOutOfRange = (r: Cursor, n: number): RangeError =>
  new RangeError(`index out of range: ${r.pos} + ${n || 1} > ${r.end}`);

/** A read position over one (sub)message of a Buffer. */
export class Cursor {
  constructor(readonly buf: Buffer, public pos: number, readonly end: number) {}

  static of(buf: Uint8Array): Cursor {
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    return new Cursor(b, 0, b.length);
  }

  get more(): boolean { return this.pos < this.end; }

  /** A varint, its low 32 bits unsigned (protobufjs Reader#uint32: tags, lengths, uint32, bool). */
  u32(): number {
    const b = this.buf;
    let p = this.pos;
    if (p >= this.end) throw indexOutOfRange(this, 1);
    let c = b[p++]!;
    let v = c & 127;
    if (c < 128) { this.pos = p; return v; }
    for (let shift = 7; shift < 35; shift += 7) {
      if (p >= this.end) throw indexOutOfRange(this, 1);
      c = b[p++]!;
      v = (v | ((c & 127) << shift)) >>> 0;
      if (c < 128) { this.pos = p; return v; }
    }
    // A longer varint (a negative int32 takes 10 bytes): its high bits are dropped.
    for (let i = 0; i < 5; i++) {
      if (p >= this.end) throw indexOutOfRange(this, 1);
      if (b[p++]! < 128) { this.pos = p; return v; }
    }
    throw new Error('invalid varint encoding');
  }

  i32(): number { return this.u32() | 0; }

  bool(): boolean { return this.u32() !== 0; }

  /** uint64 as a Number: lo + hi * 2^32, as protobufjs's LongBits#toNumber(true). */
  u64(): number {
    const b = this.buf;
    let p = this.pos;
    if (p < this.end && b[p]! < 128) { this.pos = p + 1; return b[p]!; }
    let lo = 0;
    let hi = 0;
    let c = 0;
    for (let i = 0; i < 4; i++) {
      if (p >= this.end) throw indexOutOfRange(this, 1);
      c = b[p++]!;
      lo = (lo | ((c & 127) << (i * 7))) >>> 0;
      if (c < 128) { this.pos = p; return lo; }
    }
    if (p >= this.end) throw indexOutOfRange(this, 1);
    c = b[p++]!;
    lo = (lo | ((c & 127) << 28)) >>> 0;
    hi = (hi | ((c & 127) >> 4)) >>> 0;
    if (c < 128) { this.pos = p; return lo + hi * 4294967296; }
    for (let i = 0; i < 5; i++) {
      if (p >= this.end) throw indexOutOfRange(this, 1);
      c = b[p++]!;
      hi = (hi | ((c & 127) << (i * 7 + 3))) >>> 0;
      if (c < 128) { this.pos = p; return lo + hi * 4294967296; }
    }
    throw new Error('invalid varint encoding');
  }

  /** The end of a length-delimited field whose length comes next. */
  sub(): number {
    const n = this.u32();
    const end = this.pos + n;
    if (end > this.end) throw indexOutOfRange(this, n);
    return end;
  }

  string(): string {
    const end = this.sub();
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  /** A view of the bytes (no copy, as protobufjs's BufferReader); an empty one is a new Buffer. */
  bytes(): Buffer {
    const end = this.sub();
    const out = end === this.pos ? Buffer.alloc(0) : this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Skips a field of an unknown number (protobufjs Reader#skipType). */
  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.u32(); return; // a varint of any length (u32 reads to its end)
      case 1: this.advance(8); return;
      case 2: this.pos = this.sub(); return;
      case 3: {
        for (;;) {
          const t = this.u32();
          if ((t & 7) === 4) return;
          this.skip(t & 7);
        }
      }
      case 5: this.advance(4); return;
      default: throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw indexOutOfRange(this, n);
    this.pos += n;
  }
}
