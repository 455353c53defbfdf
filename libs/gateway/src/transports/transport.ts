// A client's byte pipe, whatever carries it (TCP, TLS, WebSocket), and what a protocol
// adapter gives back to receive its bytes. Protocol adapters see only these two.
import type { Protocol } from '../metrics';

/** A client's byte pipe. TCP sockets and WebSockets implement it in listeners.ts. */
export interface Transport {
  readonly protocol: Protocol;
  readonly remote: string;
  /** Bytes queued for the client and not yet handed to the kernel. */
  readonly buffered: number;
  /** `done` runs once the bytes are written out (or with an error when they never will be). */
  write(data: Buffer, done?: (err?: Error) => void): void;
  pauseReading(): void;
  resumeReading(): void;
  /** Flush what was written, then close. */
  end(): void;
  /** Close now, dropping anything unsent. */
  destroy(): void;
}

/** What a transport hands its bytes and its close to (a protocol connection). */
export interface TransportSink {
  receive(chunk: Buffer): void;
  /** The transport flushed its queue. */
  drained(): void;
  transportClosed(): void;
}
