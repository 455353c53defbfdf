// The history of a chaos run: one JSON object per line, in the order things happened, each
// with `t` (ms since the epoch). The workload writes the operations and their outcomes, the
// nemesis writes the faults; the checker (checker.ts) reads nothing else.
//
// Outcomes follow Jepsen's: `ok` (the broker confirmed it: a RECEIPT), `fail` (the broker
// refused it or it cannot have happened), `unknown` (the connection died or the receipt did
// not come: it may or may not have happened).
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

export type Outcome = 'ok' | 'fail' | 'unknown';

/** A destination of the workload and how the checker should read it. */
export interface DestEvent {
  type: 'dest';
  dest: string;
  kind: 'queue' | 'topic';
  /** One producer, one consumer at a time: per-producer order must hold. */
  ordered?: boolean;
}

/**
 * A subscription that must get every message sent to `dest` after it was made. `sub` names
 * where copies are counted: every consumer of one queue shares `queue:<dest>`; a durable
 * topic subscription is `durable:<clientId>:<name>`.
 */
export interface SubscribeEvent {
  type: 'subscribe'; sub: string; dest: string; consumer: string;
  /**
   * How copies are judged. Absent (STOMP): a second copy must say redelivered. MQTT QoS 2:
   * `exactly-once`, a second copy is a violation. MQTT QoS 1: `at-least-once`, copies allowed
   * and counted apart (DUP marks a resent packet, not a message seen before: mqtt.ts).
   */
  delivery?: 'exactly-once' | 'at-least-once';
}

export interface SendEvent {
  type: 'send';
  /** The message's own id (its body), unique in the run. */
  id: string;
  producer: string;
  dest: string;
  /** Position in the producer's sequence (order check). */
  seq: number;
  /** The client path it went through (a gateway, a failover URI...): heal times per path. */
  path: string;
  /** The group the path reaches. */
  group: string;
  txn?: string;
}
export interface SendResult { type: 'send-result'; id: string; outcome: Outcome; error?: string }

export interface TxnEvent { type: 'txn'; txn: string; producer: string }
export interface TxnResult { type: 'txn-result'; txn: string; outcome: Outcome; error?: string }

export interface DeliverEvent {
  type: 'deliver';
  sub: string;
  consumer: string;
  id: string;
  redelivered: boolean;
  /** The broker's message-id header. */
  messageId?: string;
  /**
   * When the copy reached the consumer's client (ms since the epoch; @hawser/client
   * Message.arrivedAt), where `t` is when the application took it from the client's buffer.
   * Absent in histories written before it (and for MQTT, where the two are the same moment):
   * the checker then uses `t`.
   */
  arrived?: number;
}
/**
 * An ACK sent; `ok` only when its RECEIPT came on the connection that delivered the message
 * (`t`: when the RECEIPT came). `fail`: it was not sent (a failover client's message from a
 * connection that is gone) or the broker answered ERROR; `unknown`: the connection closed before
 * the RECEIPT; `unconfirmed`: nothing confirms it (MQTT's PUBACK/PUBCOMP, sent by mqtt.js).
 */
export interface AckEvent { type: 'ack'; sub: string; consumer: string; id: string; outcome: Outcome | 'unconfirmed'; error?: string }

/** A fault injected (`phase: start`) and taken back (`phase: end`: restarted, resumed, freed). */
export interface FaultEvent {
  type: 'fault';
  phase: 'start' | 'end';
  /** Which fault: kill-master, pause-long, zk-quorum... (faults.ts). */
  kind: string;
  cycle: number;
  target: string;
  /** The groups whose service it may interrupt (heal time is measured on them). */
  groups: string[];
  note?: string;
}

/** Anything else worth keeping (topology up, quorum lost, drain started...). */
export interface NoteEvent { type: 'note'; msg: string; [k: string]: unknown }

export type HistoryEvent = (DestEvent | SubscribeEvent | SendEvent | SendResult | TxnEvent | TxnResult | DeliverEvent | AckEvent | FaultEvent | NoteEvent) & { t: number };

type Untimed<E> = E extends unknown ? Omit<E, 't'> : never;
export type HistoryInput = Untimed<HistoryEvent>;

/** Appends events to a JSON-lines file (and keeps them in memory for the checker). */
export class History {
  readonly events: HistoryEvent[] = [];
  private readonly out: WriteStream | undefined;

  constructor(file?: string) {
    this.out = file ? createWriteStream(file, { flags: 'w' }) : undefined;
  }

  add(e: HistoryInput, t = Date.now()): HistoryEvent {
    const ev = { t, ...e } as HistoryEvent;
    this.events.push(ev);
    this.out?.write(JSON.stringify(ev) + '\n');
    return ev;
  }

  async close(): Promise<void> {
    const out = this.out;
    if (!out) return;
    await new Promise<void>((res) => out.end(() => res()));
  }
}

/** Reads a history file back (a torn last line, from a killed run, is skipped). */
export function readHistory(file: string): HistoryEvent[] {
  const out: HistoryEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try { out.push(JSON.parse(line) as HistoryEvent); } catch { /* torn last line */ }
  }
  return out;
}
