// Replication links between the stores of a group (proto/hawser/replication.proto): the
// gRPC adapter of libs/replication's messages. A slave dials its master's Replication.Stream
// (first batch: Hello) and keeps it open, redialing with backoff; the master accepts it, knows
// the slave by the Hello and answers it at once (an empty batch), so a stream that nothing
// answers is known to be stuck well before the master would be judged silent. Each link has a
// TCP connection of its own (not shared with the other channels to the same store), so a
// redial is a new connection. Both ends buffer outgoing messages per peer and write them as
// ONE ReplicationBatch at `flush` (the shell flushes once per group commit / event step).
// Sends to a peer without a link are dropped: the core retransmits on its ticks.
import { performance } from 'node:perf_hooks';
import type { Entry, Message } from '@hawser/replication';
import {
  CHANNEL_OPTIONS, FRESH_CHANNEL_OPTIONS, channelCredentials, grpc, replicationService,
  type KeyValue, type ReplicationBatch, type ReplicationHello, type ReplicationMessage, type SnapshotChunk, type SnapshotRequest,
  type WireEntry, type WireSnapshotOffer,
} from '@hawser/proto';
import type { Logger } from '@hawser/observability';
import { ownBytes } from './codec';

/** The shell's extra message: the master's core said sendSnapshot. */
export interface SnapshotOffer { type: 'snapshot'; from: string; epoch: number; snapshotEpoch: number; position: number }
export type LinkMessage = Message | SnapshotOffer;

type StreamCall = grpc.ClientDuplexStream<ReplicationBatch, ReplicationBatch> | grpc.ServerDuplexStream<ReplicationBatch, ReplicationBatch>;

export interface LinksOptions {
  id: string;
  group: string;
  incarnation: number;
  log: Logger;
  /** A message from a peer (already converted from the wire). */
  onMessage(from: string, m: LinkMessage): void;
  /** A slave said hello (master side): the epoch it was told to follow. */
  onHello(hello: ReplicationHello): void;
  /** Slave side: the stream to the master failed at the transport (refused, dropped: UNAVAILABLE). */
  onMasterUnreachable?(masterId: string, why: string): void;
  /** Slave side: the master wrote a batch without messages (a Hello's answer, a standby's heartbeat: `ping`). */
  onMasterHeard?(masterId: string): void;
  /** Master side: why a slave's stream is refused right now (null: accepted). */
  refuse?(): string | null;
  /**
   * Slave side: a new stream whose Hello the master has not answered within this long is
   * redialed on a new connection (doubling while it goes unanswered, up to 4x). 0: never.
   */
  answerMs?: number;
}

interface Dial {
  masterId: string;
  address: string;
  epoch: number;
  client: grpc.Client | null;
  call: grpc.ClientDuplexStream<ReplicationBatch, ReplicationBatch> | null;
  backoff: number;
  timer: NodeJS.Timeout | null;
  /**
   * The connection under the stream dropped and the stream was redialed at once to see whether
   * the master is there; cleared by anything the new stream brings.
   */
  checking: boolean;
  /** How long the next stream may wait for the master's answer to its Hello (Options.answerMs, doubling). */
  answerMs: number;
}

export class ReplicationLinks {
  private readonly accepted = new Map<string, StreamCall>();
  /** Master side: when each accepted slave's stream last brought anything (performance.now()). */
  private readonly heardAt = new Map<string, number>();
  private readonly outbox = new Map<string, ReplicationMessage[]>();
  private dial: Dial | null = null;
  /** Clients connected ahead to other members (id -> address, client), taken by the next dial there. */
  private readonly warmed = new Map<string, { address: string; client: grpc.Client }>();
  private closed = false;
  private flushScheduled = false;

  constructor(private readonly o: LinksOptions) {}

  // ---- master side: accept ----------------------------------------------------------------

  /** Replication.Stream handler. */
  accept(call: grpc.ServerDuplexStream<ReplicationBatch, ReplicationBatch>): void {
    let peer: string | null = null;
    const gone = () => { if (peer && this.accepted.get(peer) === call) this.accepted.delete(peer); };
    call.on('data', (b: ReplicationBatch) => {
      if (!peer) {
        const h = b.hello;
        if (!h?.from || (h.group && h.group !== this.o.group)) {
          endWith(call, grpc.status.INVALID_ARGUMENT, `expected a Hello of group ${this.o.group} first`);
          return;
        }
        const refusal = this.o.refuse?.();
        if (refusal) { endWith(call, grpc.status.UNAVAILABLE, refusal); return; }
        peer = h.from;
        const old = this.accepted.get(peer);
        if (old && old !== call) old.end();
        this.accepted.set(peer, call);
        try { call.write({ messages: [] }); } catch { /* gone */ } // the Hello is answered
        this.o.log.info({ peer, epoch: h.epoch, incarnation: h.incarnation }, 'replication link accepted');
        call.on('close', () => this.o.log.info({ peer }, 'replication link closed'));
        this.o.onHello(h);
      }
      if (this.accepted.get(peer) === call) this.heardAt.set(peer, performance.now());
      for (const m of b.messages ?? []) this.deliver(peer, m);
    });
    call.on('end', () => { gone(); try { call.end(); } catch { /* gone */ } });
    call.on('error', gone);
    call.on('cancelled', gone);
    call.on('close', gone);
  }

  // ---- slave side: dial -------------------------------------------------------------------

  /** Keep a stream to `masterId` at `address` (redialed until told otherwise). */
  follow(masterId: string, address: string, epoch: number, answerMs = this.o.answerMs ?? 0): void {
    if (this.closed) return;
    if (this.dial && this.dial.masterId === masterId && this.dial.address === address) {
      if (epoch !== this.dial.epoch) { this.dial.epoch = epoch; }
      return;
    }
    this.unfollow();
    this.dial = { masterId, address, epoch, client: null, call: null, backoff: 50, timer: null, checking: false, answerMs };
    this.connect(this.dial);
  }

  /**
   * Connects ahead to member `id` at `address` (no stream): a slave dialing it as its new master
   * after an election need not wait for TCP, TLS and HTTP/2 before the first append — the new
   * master commits nothing until a quorum's worth of slaves is linked (dialed to accepted took
   * 731 ms after a pause-long in a chaos run at load 15). The next dial to that address takes the client.
   */
  warm(id: string, address: string): void {
    if (this.closed || id === this.o.id || this.dial?.address === address) return;
    const w = this.warmed.get(id);
    if (w?.address === address) return;
    w?.client.close();
    const Replication = replicationService();
    const client = new Replication(address, channelCredentials(), FRESH_CHANNEL_OPTIONS);
    client.getChannel().getConnectivityState(true);
    this.warmed.set(id, { address, client });
  }

  /** The client warmed for `address`, if any (it is the dial's from now on). */
  private takeWarm(address: string): grpc.Client | undefined {
    for (const [id, w] of this.warmed) {
      if (w.address !== address) continue;
      this.warmed.delete(id);
      return w.client;
    }
    return undefined;
  }

  unfollow(): void {
    const d = this.dial;
    if (!d) return;
    this.dial = null;
    if (d.timer) clearTimeout(d.timer);
    try { d.call?.cancel(); } catch { /* gone */ }
    d.client?.close();
  }

  /** Tears the stream to the master down and dials again on a new connection (a silent link may be a hung one). */
  redial(answerMs?: number): void {
    const d = this.dial;
    if (!d) return;
    const { masterId, address, epoch } = d;
    this.unfollow();
    this.follow(masterId, address, epoch, answerMs);
  }

  get following(): { masterId: string; address: string } | null {
    return this.dial && { masterId: this.dial.masterId, address: this.dial.address };
  }

  private connect(d: Dial): void {
    if (this.dial !== d || this.closed) return;
    const Replication = replicationService();
    d.client ??= this.takeWarm(d.address) ?? new Replication(d.address, channelCredentials(), FRESH_CHANNEL_OPTIONS);
    const call = (d.client as unknown as { Stream(): grpc.ClientDuplexStream<ReplicationBatch, ReplicationBatch> }).Stream();
    d.call = call;
    let retried = false;
    const retry = (why: string, delay = d.backoff) => {
      if (retried) return;
      retried = true;
      if (this.dial !== d || d.call !== call) return;
      d.call = null;
      d.timer = setTimeout(() => { d.timer = null; this.connect(d); }, delay);
      d.timer.unref();
      this.o.log.info({ master: d.masterId, address: d.address, why, backoffMs: delay }, 'replication link lost; redialing');
      d.backoff = Math.min(1000, d.backoff * 2);
    };
    // Unanswered: the connection may be one TCP holds in retransmission backoff (a warmed
    // connection that went through a flapping link kept a new master's only slave unheard
    // for a whole master timeout in a chaos run). A new connection starts without it.
    let answered = false;
    const unanswered = d.answerMs > 0 ? setTimeout(() => {
      if (answered || this.dial !== d || d.call !== call) return;
      this.unanswered++;
      this.o.log.warn({ master: d.masterId, address: d.address, waitedMs: d.answerMs }, 'the master did not answer the replication Hello: redialing on a new connection');
      this.redial(Math.min(d.answerMs * 2, (this.o.answerMs ?? 0) * 4));
    }, d.answerMs) : undefined;
    unanswered?.unref();
    call.on('data', (b: ReplicationBatch) => {
      if (!answered) { answered = true; clearTimeout(unanswered); d.answerMs = this.o.answerMs ?? 0; }
      d.backoff = 50;
      d.checking = false;
      if (!b.messages?.length) { this.o.onMasterHeard?.(d.masterId); return; }
      for (const m of b.messages) this.deliver(d.masterId, m);
    });
    call.on('close', () => clearTimeout(unanswered));
    call.on('error', (e: Error) => {
      if ((e as grpc.ServiceError).code !== grpc.status.UNAVAILABLE || this.dial !== d) { retry(e.message); return; }
      // The connection under the stream dropped (not a status the master sent): that is a killed
      // master, or a connection that died alone while the master lives — a keepalive ping held
      // in TCP's retransmission backoff by a flapping link, seen in a chaos run 1 s after an
      // election, whose report elected again. Redial at once and report only if that fails too
      // (a killed master refuses the connection within milliseconds).
      if (isConnectionDrop(e) && !d.checking) {
        d.checking = true;
        retry(e.message, 0);
        return;
      }
      retry(e.message);
      // A killed master's sockets close at once: say so now, not after masterTimeoutMs of silence.
      this.o.onMasterUnreachable?.(d.masterId, e.message);
    });
    call.on('end', () => retry('ended by the master'));
    call.write({ hello: { group: this.o.group, from: this.o.id, epoch: d.epoch, incarnation: this.o.incarnation }, messages: [] });
    this.o.log.info({ master: d.masterId, address: d.address, epoch: d.epoch }, 'replication link dialed');
  }

  // ---- both -------------------------------------------------------------------------------

  send(to: string, m: LinkMessage): void {
    let q = this.outbox.get(to);
    if (!q) { q = []; this.outbox.set(to, q); }
    q.push(toWire(m));
  }

  /**
   * Writes each peer's buffered messages as one ReplicationBatch, at the end of this
   * event-loop turn: every step of the turn (a proposal, the acks of both slaves, the commit
   * notice that follows) shares one gRPC message per peer. Each gRPC message costs far more
   * CPU than its bytes, and the stores share the cores with everything else.
   */
  flush(): void {
    if (this.outbox.size === 0 || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushNow();
    });
  }

  private flushNow(): void {
    if (this.outbox.size === 0) return;
    for (const [to, messages] of this.outbox) {
      const call = this.accepted.get(to) ?? (this.dial?.masterId === to ? this.dial.call : null);
      if (!call) continue;
      try { call.write({ messages }); } catch { /* the stream died: the core retransmits */ }
    }
    this.outbox.clear();
  }

  /** Drops what is buffered (a fenced master sends nothing). */
  discard(): void { this.outbox.clear(); }

  /** Master side: ends every slave's stream (endAccepted) and drops what is buffered. */
  closeAccepted(why: string): void {
    this.outbox.clear();
    this.endAccepted([...this.accepted.keys()], why);
  }

  /**
   * Master side: the slaves whose streams brought nothing for `ms` (they answer every
   * heartbeat). Such a stream is stalled, not closed: TCP keeps retransmitting with a backoff
   * that grows to seconds on a link that drops packets now and then.
   */
  silent(ms: number): string[] {
    const since = performance.now() - ms;
    return [...this.accepted.keys()].filter((peer) => (this.heardAt.get(peer) ?? 0) < since);
  }

  /** Master side: the slaves with a stream open to this store. */
  acceptedPeers(): string[] { return [...this.accepted.keys()]; }

  /** Master side: an empty batch on `peer`'s stream (it hears this master lives; nothing to answer). */
  ping(peer: string): void {
    const call = this.accepted.get(peer);
    if (!call || this.outbox.get(peer)?.length) return; // a batch goes out this turn anyway
    try { call.write({ messages: [] }); } catch { /* gone */ }
  }

  /** Slave side: streams redialed because the master did not answer their Hello (hawser_store_replication_hellos_unanswered_total). */
  unanswered = 0;

  /**
   * Master side: ends these slaves' streams with UNAVAILABLE and `why`. A slave whose stream to
   * its master fails so reports it lost at once (onMasterUnreachable) and redials on a new
   * connection (a new TCP connection starts without the old one's retransmission backoff).
   */
  endAccepted(peers: Iterable<string>, why: string): void {
    for (const peer of peers) {
      const call = this.accepted.get(peer);
      if (!call) continue;
      this.accepted.delete(peer);
      this.outbox.delete(peer);
      try { endWith(call, grpc.status.UNAVAILABLE, why); } catch { /* gone */ }
    }
  }

  connectedPeers(): string[] {
    const out = [...this.accepted.keys()];
    if (this.dial?.call) out.push(this.dial.masterId);
    return out;
  }

  /** Fetches a snapshot from the master at `address` (Replication.Snapshot). */
  /**
   * Streams the master's snapshot into `onChunk` (awaited: the stream is paused while a chunk
   * is handled, so a slow disk slows the master's reader instead of filling memory). Fails if
   * nothing arrives for `idleMs` (a big snapshot may take long; a stalled one may not).
   */
  fetchSnapshot(address: string, req: SnapshotRequest, onChunk: (items: KeyValue[]) => Promise<void>, idleMs = 60_000): Promise<{ epoch: number; position: number }> {
    const Replication = replicationService();
    const client = new Replication(address, channelCredentials(), CHANNEL_OPTIONS);
    return new Promise((resolve, reject) => {
      const call = (client as unknown as { Snapshot(r: SnapshotRequest): grpc.ClientReadableStream<SnapshotChunk> }).Snapshot(req);
      let last: SnapshotChunk | null = null;
      let failed: Error | null = null;
      let handling: Promise<void> = Promise.resolve();
      let idle: NodeJS.Timeout | undefined;
      const fail = (e: Error) => {
        if (failed) return;
        failed = e;
        clearTimeout(idle);
        call.cancel();
        client.close();
        reject(e);
      };
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => fail(new Error(`snapshot stream from ${address} idle for ${idleMs} ms`)), idleMs);
      };
      arm();
      call.on('data', (c: SnapshotChunk) => {
        arm();
        if (c.last) last = c;
        if (!c.items?.length) return;
        call.pause();
        handling = handling.then(() => onChunk(c.items)).then(() => { if (!failed) call.resume(); }, (e: Error) => fail(e));
      });
      call.on('error', (e) => fail(e));
      call.on('end', () => {
        void handling.then(() => {
          if (failed) return;
          clearTimeout(idle);
          client.close();
          if (!last) reject(new Error('snapshot stream ended without its last chunk'));
          else resolve({ epoch: (last as SnapshotChunk).epoch, position: (last as SnapshotChunk).position });
        });
      });
    });
  }

  close(): void {
    this.closed = true;
    this.unfollow();
    for (const w of this.warmed.values()) w.client.close();
    this.warmed.clear();
    for (const c of this.accepted.values()) { try { c.end(); } catch { /* gone */ } }
    this.accepted.clear();
    this.outbox.clear();
  }

  private deliver(from: string, w: ReplicationMessage): void {
    const m = fromWire(w);
    if (m) this.o.onMessage(from, m);
  }
}

const EMPTY = new Uint8Array(0);

// ---- wire <-> core --------------------------------------------------------------------------

const wireEntry = (e: Entry): WireEntry => ({
  epoch: e.epoch, position: e.position, data: Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength), noop: e.noop === true,
});

export function toWire(m: LinkMessage): ReplicationMessage {
  switch (m.type) {
    case 'append':
      return { kind: 'append', append: { from: m.from, epoch: m.epoch, prevEpoch: m.prevEpoch, prevPosition: m.prevPosition, entries: m.entries.map(wireEntry), commitPosition: m.commitPosition } };
    case 'ack':
      return { kind: 'ack', ack: { from: m.from, epoch: m.epoch, incarnation: m.incarnation, received: m.received, persisted: m.persisted } };
    case 'reject':
      return { kind: 'reject', reject: { from: m.from, epoch: m.epoch, incarnation: m.incarnation, hintEpoch: m.hintEpoch, hintPosition: m.hintPosition } };
    case 'stale':
      return { kind: 'stale', stale: { from: m.from, epoch: m.epoch } };
    case 'snapshot': {
      const s: WireSnapshotOffer = { from: m.from, epoch: m.epoch, snapshotEpoch: m.snapshotEpoch, position: m.position };
      return { kind: 'snapshot', snapshot: s };
    }
  }
}

export function fromWire(w: ReplicationMessage): LinkMessage | null {
  switch (w.kind) {
    case 'append': {
      const a = w.append;
      // The entries' bytes are views of the received message: copied out (one buffer for the
      // batch) so that the log holding them does not hold the read they came in.
      const wire = a.entries ?? [];
      const datas = ownBytes(wire.map((e) => e.data ?? EMPTY));
      const entries: Entry[] = wire.map((e, i) => (e.noop
        ? { epoch: e.epoch, position: e.position, data: datas[i]!, noop: true as const }
        : { epoch: e.epoch, position: e.position, data: datas[i]! }));
      return { type: 'append', from: a.from, epoch: a.epoch, prevEpoch: a.prevEpoch, prevPosition: a.prevPosition, entries, commitPosition: a.commitPosition };
    }
    case 'ack': return { type: 'ack', ...w.ack };
    case 'reject': return { type: 'reject', ...w.reject };
    case 'stale': return { type: 'stale', ...w.stale };
    case 'snapshot': return { type: 'snapshot', ...w.snapshot };
    default: return null;
  }
}

/** Ends a server stream with a status (grpc-js sends an emitted error's code and details as the trailers). */
function endWith(call: StreamCall, code: grpc.status, details: string): void {
  call.emit('error', Object.assign(new Error(details), { code, details }));
}

/** A stream ended because its connection closed under it (grpc-js's own status), not by the peer's status. */
function isConnectionDrop(e: Error): boolean {
  return (e as grpc.ServiceError).details === 'Connection dropped';
}
