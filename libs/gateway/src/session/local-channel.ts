// A session channel to the broker core of this very process: the gateway embedded in a store
// node, on the group's master. Requests go to the core as the objects the protocol adapter
// built (no protobuf, no gRPC, no second process); events come back the same way.
//
// Requests of one turn go to the core together (one handle + one drive per turn, so a client
// pipelining SENDs still makes one group commit); they are queued on a microtask, so the core
// is never re-entered from inside its own event dispatch.
import type { SessionEvent, SessionRequest } from '@hawser/proto';
import { makeRequest, PushedEvents, type ChannelHandlers, type Payloads, type SessionChannel } from './channel';

/** What the gateway hands the broker: one session's requests, and its end. */
export interface LocalSession {
  /** Requests, in order (the first of a session is `open`). */
  requests(items: SessionRequest[]): void;
  /** The client is done: the master settles the session (what it had not acked comes back). */
  end(): void;
}

/** What the broker hands the gateway: one session's events, and the master's end of it. */
export interface LocalSessionSink {
  events(items: SessionEvent[]): void;
  /** The master ended the session (after its last events: NOT_MASTER on a demotion, shutdown). */
  ended(): void;
}

/** The broker core of this process, as a store node offers it to its embedded gateway. */
export interface LocalBroker {
  /** The address the topology names this node by: sessions to it stay in-process. */
  readonly address: string;
  /** Whether the core serves sessions now (master or standalone, not stopping). */
  readonly serving: boolean;
  /** A new session; a node that does not serve answers it with an error event and ends it. */
  openSession(sink: LocalSessionSink): LocalSession;
}

export class LocalChannel extends PushedEvents implements SessionChannel {
  private session: LocalSession | undefined;
  private pending: SessionRequest[] = [];
  private scheduled = false;
  private endSent = false;

  constructor(private readonly broker: LocalBroker, handlers: ChannelHandlers) { super(handlers); }

  start(): void { /* the session opens with the first flush, after `open` is queued */ }

  request<K extends keyof Payloads>(kind: K, payload: Payloads[K], requestId = 0): void {
    if (this.ended || this.closed) return;
    this.pending.push(makeRequest(kind, payload, requestId));
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    if (!this.session) {
      if (this.ended && this.pending.length === 0) return; // ended before it opened
      this.session = this.broker.openSession({
        events: (items) => this.pushEvents(items),
        ended: () => { this.endSent = true; this.pushEnd(); },
      });
      if (this.closed) return; // refused (not the master now): the link has moved on
    }
    if (this.pending.length) {
      const items = this.pending;
      this.pending = [];
      this.session.requests(items);
    }
    if (this.ended && !this.endSent && !this.closed) {
      this.endSent = true;
      this.session.end();
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.schedule();
  }

  cancel(): void {
    const wasOpen = this.session !== undefined && !this.closed && !this.endSent;
    this.ended = true;
    this.closed = true;
    this.pending = [];
    this.dropHeld();
    if (wasOpen) {
      this.endSent = true;
      const s = this.session!;
      queueMicrotask(() => s.end());
    }
  }
}
