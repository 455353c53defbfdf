// Producer flow control (ActiveMQ's systemUsage): what the broker holds, against two limits.
//   memory: bytes of message bodies (and headers) the broker holds in memory because of
//           producers — non-persistent messages waiting or in flight, persistent messages
//           whose journal entry is not yet durable (standalone: written; replicated: held by a
//           quorum), and SENDs of open transactions. Persistent messages already on disk are
//           paged (broker.pageSize per destination) and do not count.
//   store:  bytes of persistent messages stored (on every storage queue they are on).
// When a SEND would go over a limit, the core holds it — no receipt — until consumers make
// room (core.ts), or refuses it with NO_SPACE (sendFailIfNoSpace).
//
// The store usage is a function of the journal alone (enqueue adds, remove/purge/removeDurable
// take away, each op carrying the bytes), so the master, its replicas and a restarted store
// count the same: the limit is the master's view, and a promoted slave already has it.
import { volatileSize } from './queue';
import type { Message } from './types';

export interface FlowLimits {
  /** Bytes of messages in memory before SENDs are held (0: no limit). */
  memoryLimit: number;
  /** Bytes of persistent messages stored before persistent SENDs are held (0: no limit). */
  storeLimit: number;
  /** Refuse a SEND with NO_SPACE instead of holding it (ActiveMQ sendFailIfNoSpace). */
  sendFailIfNoSpace: boolean;
  /** Hold a SEND at most this long (ms), then refuse it with NO_SPACE (0: hold while it takes). */
  sendFailIfNoSpaceAfterTimeout: number;
  /**
   * Requests one session may have held at most (the gateway stops reading a client long before:
   * limits.producerWindow); beyond it the session ends with NO_SPACE.
   */
  maxHeldRequests: number;
}

export const NO_FLOW_LIMITS: FlowLimits = { memoryLimit: 0, storeLimit: 0, sendFailIfNoSpace: false, sendFailIfNoSpaceAfterTimeout: 0, maxHeldRequests: 10_000 };

/** What a message costs, roughly: its body, id, destination and headers (the non-persistent bound's measure too). */
export const messageBytes: (m: Message) => number = volatileSize;

export interface UsageStats {
  memory: number;
  memoryLimit: number;
  store: number;
  storeLimit: number;
  /** Sessions with SENDs held for room. */
  blockedProducers: number;
  /** Requests held in all. */
  heldRequests: number;
  dedupEntries: number;
  dedupScopes: number;
}

export class Usage {
  /** Non-persistent bytes over every queue and subscription (StorageQueue keeps it: its meter). */
  volatileBytes = 0;
  /** Persistent bytes of entries not yet durable. */
  pendingBytes = 0;
  /** Bytes of SENDs buffered in open transactions. */
  txBytes = 0;
  storeBytes = 0;
  /** [position, bytes] pairs of entries not yet durable, oldest first. */
  private pending: number[] = [];
  private pendingHead = 0;
  private readonly stored = new Map<string, number>();

  constructor(readonly limits: FlowLimits) {}

  get memory(): number { return this.volatileBytes + this.pendingBytes + this.txBytes; }

  /** Which limit a SEND (persistent or not) would go over now, or null when there is room. */
  noSpace(persistent: boolean): 'memory' | 'store' | null {
    const l = this.limits;
    if (l.memoryLimit > 0 && this.memory >= l.memoryLimit) return 'memory';
    if (persistent && l.storeLimit > 0 && this.storeBytes >= l.storeLimit) return 'store';
    return null;
  }

  describe(which: 'memory' | 'store'): string {
    return which === 'memory'
      ? `the broker's memory limit is reached (${this.memory} of broker.memoryLimit ${this.limits.memoryLimit} bytes)`
      : `the broker's store limit is reached (${this.storeBytes} of broker.storeLimit ${this.limits.storeLimit} bytes)`;
  }

  addPending(position: number, bytes: number): void {
    const n = this.pending.length;
    if (n > this.pendingHead && this.pending[n - 2] === position) this.pending[n - 1]! += bytes;
    else this.pending.push(position, bytes);
    this.pendingBytes += bytes;
  }

  /** Entries up to `position` are durable: their messages no longer count as memory. */
  durable(position: number): void {
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]! <= position) {
      this.pendingBytes -= this.pending[this.pendingHead + 1]!;
      this.pendingHead += 2;
    }
    if (this.pendingHead === this.pending.length) { this.pending = []; this.pendingHead = 0; }
    else if (this.pendingHead > 4096) { this.pending = this.pending.slice(this.pendingHead); this.pendingHead = 0; }
  }

  addStored(queue: string, bytes: number): void {
    if (!bytes) return;
    const was = this.stored.get(queue) ?? 0;
    const now = Math.max(0, was + bytes);
    this.stored.set(queue, now);
    this.storeBytes += now - was;
  }

  setStored(queue: string, bytes: number): void {
    const was = this.stored.get(queue) ?? 0;
    this.stored.set(queue, Math.max(0, bytes));
    this.storeBytes += Math.max(0, bytes) - was;
  }

  dropStored(queue: string): void {
    this.storeBytes -= this.stored.get(queue) ?? 0;
    this.stored.delete(queue);
  }
}
