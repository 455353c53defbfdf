// One MQTT 3.1.1 client connection: the MQTT adapter on the protocol-neutral ClientSession
// (session/client-session.ts), as protocols/stomp/connection.ts is the STOMP one. This file
// holds the connection's state, its input (the mqtt-packet codec), its output, keep-alive and
// closing; each packet type is handled in its own file, as aedes does:
//
//   connect.ts      CONNECT: login, takeover, the session (clean or persistent), CONNACK
//   publish.ts      PUBLISH from the client at QoS 0/1/2, and PUBREL (the inbound QoS 2 flow)
//   subscribe.ts    SUBSCRIBE and UNSUBSCRIBE (topic filters -> broker subscriptions)
//   deliver.ts      deliveries from the store -> PUBLISH; PUBACK, PUBREC, PUBCOMP (outbound)
//   session-state.ts what a persistent session keeps in the store across connections
//   qos2.ts         the QoS 2 state tables (pure)   topics.ts   the topic <-> destination map
//
//   connecting --CONNECT--> authenticating --> opening --session ready--> connected --> closing --> closed
//
// Bad input (malformed, oversize, reserved flags, a second CONNECT, a packet before CONNECT,
// a bad topic) closes the connection without a reply, as MQTT requires [MQTT-4.8.0-1], with
// a log line and hawser_gateway_mqtt_protocol_errors_total.
import { parser as mqttParser, generate, type Packet, type Parser, type IConnectPacket } from 'mqtt-packet';
import type { Logger, Tally } from '@hawser/observability';
import type { Transport } from '../../transports/transport';
import { GatewayError, StoreRejectedError } from '../../errors';
import type { ClientSession, ClientDelivery } from '../../session/client-session';
import type { GatewayContext } from '../stomp/connection';
import { PacketIds, type InState, type OutState } from './qos2';
import type { SessionState } from './session-state';
import { onConnect } from './connect';
import { onPublish, onPubrel, willMessage } from './publish';
import { onSubscribe, onUnsubscribe } from './subscribe';
import { onDelivery, onPuback, onPubrec, onPubcomp, saveQos1 } from './deliver';
import { TopicError } from './topics';
import { ReadBacklog } from '../read-backlog';

/** The connections of one gateway by MQTT client id: a second CONNECT with an id takes it over [MQTT-3.1.4-2]. */
export type MqttClients = Map<string, MqttConnection>;

export interface MqttContext extends GatewayContext {
  mqttClients: MqttClients;
}

type State = 'connecting' | 'authenticating' | 'opening' | 'connected' | 'closing' | 'closed';

/** Why a connection was closed for bad input (a metric label). */
export type ProtocolErrorReason =
  | 'malformed' | 'oversize' | 'second_connect' | 'not_connected' | 'bad_topic' | 'unsupported' | 'pid_exhausted';

export class ProtocolError extends Error {
  readonly code = 'MQTT_PROTOCOL_ERROR';
  constructor(readonly reason: ProtocolErrorReason, message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** One subscription of the session: a topic filter and the broker subscription serving it. */
export interface MqttSubscription {
  filter: string;
  qos: 0 | 1 | 2;
  /** The broker subscription id (and, in a persistent session, the durable subscription name). */
  subscriptionId: string;
  /** Persistent session: the record (session-state.ts) that keeps it across connections. */
  record?: string;
}

/** An inbound QoS 2 packet id (qos2.ts InState) and where its state is kept. */
export interface InFlightIn {
  state: InState;
  record?: string;
  releaseAfterStore?: boolean;
  /** What was stored under the packet id (publishDigest): a resend without DUP is recognised by it. */
  digest?: string;
}

/** An outbound QoS 1 or 2 PUBLISH the client has not finished. */
export interface InFlightOut {
  qos: 1 | 2;
  state: OutState;
  /** The ClientSession delivery tag to ack (0 once acked). */
  tag: number;
  subscriptionId: string;
  messageId: string;
  /** Persistent session: the PUBREL record (state 'released'). */
  record?: string;
  /** The PUBLISH as sent (re-sent with dup on redelivery). */
  packet?: Packet;
  /** State 'releasing': the store delivered the message again (a move) while the PUBREC's transaction was out. */
  redelivered?: boolean;
  /** State 'releasing': the PUBREC's transaction was refused as rolled back without a redelivery: committed or not is unknown. */
  inDoubt?: boolean;
  /** Deliveries of the same message through this connection's other subscriptions: acked with this one. */
  copies?: number[];
  /** Persistent session, QoS 2: the {t:'out'} record keeping the packet id until PUBREC. */
  outRecord?: string;
  /** Its PUBLISH waits for that record to be stored. */
  waiting?: boolean;
}

/** Deliveries remembered per connection to give overlapping subscriptions one copy. */
const RECENT_MESSAGES = 10_000;

export class MqttConnection {
  readonly id: string;
  readonly log: Logger;
  state: State = 'connecting';
  /** CONNECT's protocol level: 3 (MQTT 3.1, MQIsdp) or 4 (3.1.1). */
  version: 3 | 4 = 4;
  clientId = '';
  /** Who logged in ('' anonymous): whose the client id's persistent session becomes. */
  login = '';
  clean = true;
  /** Seconds; 0: none. */
  keepalive = 0;
  will: IConnectPacket['will'];
  /** The client sent DISCONNECT: no will [MQTT-3.14.4-3]. */
  disconnected = false;
  session: ClientSession | undefined;
  /** What the session keeps in the store (persistent sessions, and the discard of a clean one). */
  sessionState: SessionState | undefined;
  readonly subscriptions = new Map<string, MqttSubscription>();
  readonly bySubscriptionId = new Map<string, MqttSubscription>();
  /** Inbound QoS 1 packet ids whose PUBLISH the store has not confirmed (a DUP of one is not stored twice). */
  readonly inQos1 = new Set<number>();
  readonly inQos2 = new Map<number, InFlightIn>();
  readonly outIds = new PacketIds();
  readonly outbound = new Map<number, InFlightOut>();
  /** "<subscription>\0<message id>" -> outbound packet id: a redelivered message keeps its pid. */
  readonly outByMessage = new Map<string, number>();
  /** "<subscription>\0<message id>" of QoS 2 messages the client completed (bounded): a copy after a failover is acked, not sent. */
  readonly completedQos2 = new Set<string>();
  /** Message id -> subscription that delivered it (one copy for overlapping subscriptions). */
  private readonly recent = new Map<string, string>();
  private readonly receipts = new Map<string, { ok: () => void; refused?: (e: StoreRejectedError) => void }>();
  private tokenSeq = 0;
  private messageSeq = 0;
  private lastRead = Date.now();
  private readonly parser: Parser;
  private readonly timers: NodeJS.Timeout[] = [];
  private openTimer: NodeJS.Timeout | undefined;
  /** Packets that came while the login or the session was being set up: handled in order once it is. */
  held: Packet[] | undefined;
  /** Packets read behind the store's back-pressure (read-backlog.ts): handled, in order, once it lifts. */
  private readonly backlog = new ReadBacklog<Packet>();
  private pausedForClient = false;
  private pausedForStore = false;
  /** This connection's byte counts (hawser_gateway_bytes_in/out_total of its protocol). */
  private readonly bytesIn: Tally;
  private readonly bytesOut: Tally;
  onClosed: (() => void) | undefined;

  constructor(readonly ctx: MqttContext, readonly transport: Transport, connectionSeq: number) {
    this.id = `${ctx.gatewayId}:${ctx.bootId}-${connectionSeq}`;
    this.bytesIn = ctx.metrics.bytesIn.tally(transport.protocol);
    this.bytesOut = ctx.metrics.bytesOut.tally(transport.protocol);
    this.log = ctx.log.child({ connectionId: this.id, protocol: transport.protocol, remote: transport.remote });
    this.parser = mqttParser({ protocolVersion: 4 });
    this.parser.on('packet', (p: Packet) => this.onPacket(p));
    this.parser.on('error', (e: Error) => this.protocolError(new ProtocolError('malformed', `malformed MQTT packet: ${e.message}`)));
    const connectTimeout = ctx.config.limits.connectTimeout;
    if (connectTimeout > 0) {
      this.openTimer = setTimeout(() => {
        if (this.state !== 'connecting') return;
        this.log.info({ connectTimeoutMs: connectTimeout }, 'closing MQTT connection: no CONNECT in time');
        this.close('no CONNECT in time', true);
      }, connectTimeout);
      this.openTimer.unref();
    }
  }

  get isOpen(): boolean { return this.state !== 'closing' && this.state !== 'closed'; }

  // ---- input ---------------------------------------------------------------------------------

  /** Bytes from the transport. Never throws. */
  receive(chunk: Buffer): void {
    if (!this.isOpen) return;
    this.lastRead = Date.now();
    this.bytesIn.n += chunk.length;
    try {
      this.parser.parse(chunk);
      // mqtt-packet buffers a packet until it is whole: refuse one announced over the limit
      // as soon as its length is known, not once its bytes are all in memory.
      const max = this.ctx.config.mqtt.maxPacketSize;
      const announced = (this.parser as unknown as { packet?: { length?: number } }).packet?.length ?? -1;
      if (this.isOpen && announced + 5 > max) {
        this.protocolError(new ProtocolError('oversize', `MQTT packet of ${announced} bytes announced, the most allowed is ${max} (mqtt.maxPacketSize)`));
      }
    } catch (e) {
      this.failWith(e);
    }
  }

  private onPacket(p: Packet): void {
    if (!this.isOpen) return;
    this.ctx.metrics.mqttPacketsIn.inc(p.cmd);
    if (p.length !== undefined && p.length + 2 > this.ctx.config.mqtt.maxPacketSize) {
      this.protocolError(new ProtocolError('oversize', `MQTT packet of ${p.length} bytes, the most allowed is ${this.ctx.config.mqtt.maxPacketSize} (mqtt.maxPacketSize)`));
      return;
    }
    if (this.held) { this.held.push(p); return; }
    if (this.backlog.holding) { this.backlog.push(p); return; }
    try {
      this.handle(p);
    } catch (e) {
      this.failWith(e);
    }
  }

  /** One packet, in order. Throws ProtocolError (closes the connection) on what MQTT forbids. */
  handle(p: Packet): void {
    if (this.state === 'connecting') {
      // [MQTT-3.1.0-1] the first packet from the client MUST be CONNECT.
      if (p.cmd !== 'connect') throw new ProtocolError('not_connected', `expected CONNECT first, got ${p.cmd.toUpperCase()} [MQTT-3.1.0-1]`);
      clearTimeout(this.openTimer);
      onConnect(this, p);
      return;
    }
    switch (p.cmd) {
      // [MQTT-3.1.0-2] a second CONNECT is a protocol violation: disconnect.
      case 'connect': throw new ProtocolError('second_connect', 'a second CONNECT on the connection [MQTT-3.1.0-2]');
      case 'publish': return onPublish(this, p);
      case 'pubrel': return onPubrel(this, p);
      case 'puback': return onPuback(this, p);
      case 'pubrec': return onPubrec(this, p);
      case 'pubcomp': return onPubcomp(this, p);
      case 'subscribe': return onSubscribe(this, p);
      case 'unsubscribe': return onUnsubscribe(this, p);
      case 'pingreq': return this.write({ cmd: 'pingresp' });
      case 'disconnect': return this.onDisconnect();
      default:
        throw new ProtocolError('unsupported', `${p.cmd.toUpperCase()} is not a packet a client sends`);
    }
  }

  /** Handles what was held while the login or the session was being set up, then reads on. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.updateReading();
    try {
      for (const p of held) {
        if (!this.isOpen) return;
        if (this.backlog.holding) this.backlog.push(p);
        else this.handle(p);
      }
    } catch (e) {
      this.failWith(e);
    }
  }

  // [MQTT-3.14.4-1] on DISCONNECT the server discards the will and closes the connection.
  private onDisconnect(): void {
    this.disconnected = true;
    this.will = undefined;
    this.close('client disconnected');
  }

  // ---- the store -------------------------------------------------------------------------------

  /** A receipt token for a session request; `ok` runs on the store's receipt, `refused` on its error. */
  expect(ok: () => void, refused?: (e: StoreRejectedError) => void): string {
    const token = `m${++this.tokenSeq}`;
    this.receipts.set(token, { ok, refused });
    return token;
  }

  onReceipt(token: string): void {
    const r = this.receipts.get(token);
    if (!r) return;
    this.receipts.delete(token);
    if (this.isOpen) r.ok();
  }

  onRefused(err: StoreRejectedError, token: string | undefined): void {
    const r = token !== undefined ? this.receipts.get(token) : undefined;
    if (token !== undefined) this.receipts.delete(token);
    if (r?.refused && this.isOpen) { r.refused(err); return; }
    if (!err.fatal) {
      this.log.info({ code: err.code, error: err.message }, 'the store refused a request of an MQTT client');
      return;
    }
    this.fail(err);
  }

  /** A new message id: unique per gateway boot, so the store's dedup never confuses two. */
  nextMessageId(): string { return `${this.id}:${++this.messageSeq}`; }

  /** A delivery from the store: the session's own records, or a message for the client. */
  onStoreDelivery(d: ClientDelivery): void {
    if (!this.isOpen) return;
    if (this.sessionState?.owns(d.subscriptionId)) { this.sessionState.onDelivery(d); return; }
    onDelivery(this, d);
  }

  /**
   * Overlapping subscriptions of one connection: a message already delivered through another of
   * its subscriptions is not delivered again (one copy per client). True: deliver it.
   */
  firstCopy(messageId: string, subscriptionId: string): boolean {
    const by = this.firstBy(messageId);
    if (by !== undefined) return by === subscriptionId;
    this.recent.set(messageId, subscriptionId);
    if (this.recent.size > RECENT_MESSAGES) this.recent.delete(this.recent.keys().next().value!);
    return true;
  }

  /** The subscription through which this connection delivered `messageId` first (recently). */
  firstBy(messageId: string): string | undefined { return this.recent.get(messageId); }

  // ---- output ----------------------------------------------------------------------------------

  write(p: Packet, done?: (err?: Error) => void): void {
    if (!this.isOpen) { done?.(new Error('connection closed')); return; }
    const bytes = generate(p, { protocolVersion: this.version === 3 ? 3 : 4 });
    this.ctx.metrics.mqttPacketsOut.inc(p.cmd);
    this.bytesOut.n += bytes.length;
    this.transport.write(bytes, done);
    if (!this.pausedForClient && this.transport.buffered > this.ctx.config.limits.writeBufferHigh) {
      this.pausedForClient = true;
      this.log.debug({ buffered: this.transport.buffered }, 'MQTT client reads slowly: pausing its input and its deliveries');
      this.session?.pause();
      this.updateReading();
    }
  }

  /** The transport flushed its queue. */
  drained(): void {
    if (!this.pausedForClient || this.transport.buffered > this.ctx.config.limits.writeBufferHigh / 2) return;
    this.pausedForClient = false;
    this.session?.resume();
    this.updateReading();
  }

  backpressure(paused: boolean): void {
    this.pausedForStore = paused;
    if (paused) {
      this.backlog.hold();
      this.updateReading();
      return;
    }
    this.lastRead = Date.now(); // its silence while we did not read it was ours
    try {
      this.backlog.drain(() => this.pausedForStore, () => this.isOpen, (p) => this.handle(p));
    } catch (e) {
      this.failWith(e);
    }
    this.updateReading();
  }

  updateReading(): void {
    if (this.pausedForClient || this.pausedForStore || this.held) this.transport.pauseReading();
    else this.transport.resumeReading();
  }

  // ---- keep-alive --------------------------------------------------------------------------------

  /**
   * [MQTT-3.1.2-24] a client silent for one and a half keep-alive periods is disconnected.
   * Keep-alive 0 turns that off; heartbeat.idleTimeout still bounds such a client (as it bounds
   * a STOMP client that declined heart-beats), so an idle socket cannot hold a slot for ever.
   */
  startKeepAlive(): void {
    const idle = this.ctx.config.heartbeat.idleTimeout;
    const limit = this.keepalive > 0 ? this.keepalive * 1500 : idle;
    if (limit <= 0) return;
    const t = setInterval(() => {
      const silent = Date.now() - this.lastRead;
      if (!this.isOpen || silent <= limit || this.pausedForStore) return;
      if (this.keepalive > 0) {
        this.ctx.metrics.heartbeatTimeouts.inc();
        this.log.info({ silentMs: silent, keepaliveS: this.keepalive }, 'closing MQTT connection: nothing from the client within 1.5x its keep-alive [MQTT-3.1.2-24]');
      } else {
        this.log.info({ silentMs: silent, idleTimeoutMs: idle }, 'closing MQTT connection: idle for heartbeat.idleTimeout (keep-alive 0)');
      }
      this.close('keep-alive timeout', true);
    }, Math.max(Math.min(Math.floor(limit / 4), 1000), 10));
    t.unref();
    this.timers.push(t);
  }

  // ---- errors and closing ------------------------------------------------------------------------

  /** Bad input: MQTT has no error packet after CONNECT — close the connection [MQTT-4.8.0-1]. */
  protocolError(e: ProtocolError): void {
    if (!this.isOpen) return;
    this.ctx.metrics.mqttProtocolErrors.inc({ protocol: this.transport.protocol, reason: e.reason });
    this.ctx.metrics.errors.inc({ code: e.code });
    this.log.info({ reason: e.reason, error: e.message, clientId: this.clientId }, 'closing MQTT connection: bad input');
    this.close(`protocol error: ${e.reason}`, true);
  }

  failWith(e: unknown): void {
    if (e instanceof ProtocolError) return this.protocolError(e);
    if (e instanceof TopicError) return this.protocolError(new ProtocolError('bad_topic', e.message));
    if (e instanceof GatewayError || e instanceof StoreRejectedError) return this.fail(e);
    this.log.error({ err: e }, 'internal error handling an MQTT packet');
    this.fail(new GatewayError('INTERNAL', `internal error: ${(e as Error)?.message ?? String(e)}`));
  }

  /** The session cannot go on (the store refused, no master): close; MQTT has no error packet to say why. */
  fail(err: GatewayError | StoreRejectedError): void {
    if (!this.isOpen) return;
    this.ctx.metrics.errors.inc({ code: err.code });
    this.log.info({ code: err.code, error: err.message, clientId: this.clientId }, 'closing MQTT connection');
    this.close(`error: ${err.code}`);
  }

  /** Publishes the will (unless DISCONNECT came), ends the session, closes the transport. Idempotent. */
  close(reason: string, hard = false): void {
    if (!this.isOpen) return;
    this.state = 'closing';
    this.log.debug({ reason }, 'closing MQTT connection');
    this.finish();
    if (hard) this.transport.destroy();
    else this.transport.end();
  }

  /** The transport is gone (either side closed it). */
  transportClosed(): void {
    if (this.state === 'closed') return;
    this.finish();
    this.state = 'closed';
    this.onClosed?.();
  }

  private finished = false;

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.openTimer);
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    if (this.ctx.mqttClients.get(this.clientId) === this) this.ctx.mqttClients.delete(this.clientId);
    // [MQTT-3.1.2-8] the will is published when the connection closes without DISCONNECT.
    if (this.will && this.session && !this.disconnected) publishWill(this);
    this.will = undefined;
    saveQos1(this);
    this.sessionState?.closing();
    this.session?.end();
  }
}

/** The will message, through the session before it ends (the store authorizes it like any PUBLISH). */
function publishWill(c: MqttConnection): void {
  const w = c.will!;
  try {
    c.session!.send(willMessage(c, w), '');
    c.ctx.metrics.mqttWills.inc();
    c.log.info({ topic: w.topic, qos: w.qos ?? 0 }, 'MQTT will published');
  } catch (e) {
    c.log.info({ err: (e as Error).message }, 'MQTT will not published');
  }
}
