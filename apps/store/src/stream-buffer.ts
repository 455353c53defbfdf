// Write back-pressure on a session stream, in bytes. grpc-js counts a stream's buffer in
// messages (16), and one message may carry megabytes of deliveries, so `write()` returning
// false says little; the write callback says when HTTP/2 took the message (its flow-control
// window had room). Bytes written and not yet taken above `limit`: the stream is full and its
// sessions get no deliveries (BrokerCore.pauseSession); below half of it: resumed.
import type { MuxEvent } from '@hawser/proto';

type Event = NonNullable<MuxEvent['event']>;

/** Bytes an event costs in the stream (bodies, and a little for the rest). */
export function eventBytes(e: Event | undefined): number {
  return 64 + (e?.kind === 'delivery' ? e.delivery.message?.body?.length ?? 0 : 0);
}

export class StreamBuffer {
  private pending = 0;
  private isFull = false;

  constructor(
    private readonly limit: number,
    private readonly onFull: () => void,
    private readonly onRoom: () => void,
  ) {}

  get full(): boolean { return this.isFull; }
  /** Bytes written and not yet taken by HTTP/2. */
  get bytes(): number { return this.pending; }

  /** Writes through `write` (a stream's write with its callback), counting `bytes` until it is taken. */
  write(bytes: number, write: (done: () => void) => void): void {
    this.pending += bytes;
    let counted = true;
    write(() => {
      if (!counted) return;
      counted = false;
      this.pending -= bytes;
      if (this.isFull && this.pending <= this.limit / 2) {
        this.isFull = false;
        this.onRoom();
      }
    });
    if (!this.isFull && this.pending > this.limit) {
      this.isFull = true;
      this.onFull();
    }
  }
}
