// The journal: every persistent state change of a store is one entry (epoch, position, ops).
// Replaying the entries in position order on an empty state gives the same queues, durable
// subscriptions, messages, redelivery counts and dedup window (proto/hawser/journal.proto).
//
// Ops are deterministic facts, never decisions that depend on who is connected: "message M
// is stored on queues Q1,Q2 with sequence S", "message S is gone from Q", "message S has
// failed N deliveries". Deliveries themselves are not journaled (ActiveMQ's default, without
// persistJMSRedelivered): after a restart or a failover unacked messages are delivered again.
import type { Message } from './types';

/** Stored on one or more storage queues (a /queue/ destination, or a durable subscription). */
export interface EnqueueOp {
  message: Message;
  /** Storage queue ids (see storeIdOf); one copy of the message each. */
  queues: string[];
  /** Global, strictly increasing sequence number (FIFO order within a priority). */
  seq: number;
  /** Record message.id in the dedup window (client sends yes; moves to the DLQ no). */
  dedup: boolean;
  /** The sender's dedup scope (dedup.ts): the window key is dedupKey(scope, destination, id); '' = the bare id (entries made before scopes). */
  dedupScope?: string;
}

export interface RemoveOp {
  queue: string;
  seq: number;
  priority: number;
  /** acked | expired | dlq | purged: for logs and replicas' metrics; not interpreted. */
  reason: string;
  /** The message's size (usage.ts messageBytes): the store usage it gives back. */
  bytes?: number;
}

/** A message came back undelivered (NACK, session end): its failed-delivery count. */
export interface RedeliverOp {
  queue: string;
  seq: number;
  priority: number;
  count: number;
}

export interface DurableSubOp {
  clientId: string;
  name: string;
  topic: string;
  selector: string;
  noLocal: boolean;
  /** Storage queue id holding the subscription's backlog. */
  queue: string;
  /** Login of the user who made it (docs/security.md); '' or absent: not owned. */
  owner?: string;
}

export interface RemoveDurableOp {
  clientId: string;
  name: string;
  queue: string;
}

/** Every message of `queue` with seq <= upToSeq is gone, except `keep` (in flight). */
export interface PurgeOp {
  queue: string;
  upToSeq: number;
  keep: number[];
  /** Size of the `keep` messages: the queue's store usage after the purge. */
  keepBytes?: number;
}

/**
 * The topic's retained message is now `message` (retained.ts), replacing any before it. Made by
 * a SEND carrying `ActiveMQ.Retain: true` with a body, whatever its persistence.
 */
export interface RetainOp {
  message: Message;
}

/** The topic (a /topic/ name) has no retained message any more (a retained SEND with an empty body). */
export interface DropRetainedOp {
  topic: string;
}

/**
 * The destination is deleted (Admin.Delete): its name is forgotten (no longer listed, no longer
 * counted against broker.maxDestinations, its metric series dropped), and a queue's storage
 * queue with it. Its messages went before it in the same entry (a purge, or a removeDurable for
 * a durable subscription's backlog); a later SEND or SUBSCRIBE naming it makes it anew.
 */
export interface ForgetOp {
  /** '/queue/x', '/topic/x', or a durable subscription's listed name 'durable:<client>:<name>'. */
  destination: string;
}

export type JournalOp =
  | { kind: 'enqueue'; enqueue: EnqueueOp }
  | { kind: 'remove'; remove: RemoveOp }
  | { kind: 'redeliver'; redeliver: RedeliverOp }
  | { kind: 'durableSub'; durableSub: DurableSubOp }
  | { kind: 'removeDurable'; removeDurable: RemoveDurableOp }
  | { kind: 'purge'; purge: PurgeOp }
  | { kind: 'retain'; retain: RetainOp }
  | { kind: 'dropRetained'; dropRetained: DropRetainedOp }
  | { kind: 'forget'; forget: ForgetOp };

export interface JournalEntry {
  epoch: number;
  position: number;
  /** The master's clock when it made the entry (ms since the epoch); informative. */
  time: number;
  ops: JournalOp[];
}

/**
 * Sort key of a message inside its storage queue: priority descending, then FIFO by seq.
 * 17 ASCII characters, so string order is dispatch order (ActiveMQ: priority then FIFO).
 */
/**
 * An entry that only removes messages (consumer acks): no producer's receipt waits on it, so
 * the shell may let it wait a moment and ride with the next entry's write or proposal.
 */
export function removesOnly(e: JournalEntry): boolean {
  return e.ops.length > 0 && e.ops.every((op) => op.kind === 'remove');
}

export function orderKey(priority: number, seq: number): string {
  return String(9 - clampPriority(priority)) + seq.toString(16).padStart(16, '0');
}

export function clampPriority(p: number): number {
  if (!Number.isFinite(p)) return 4;
  return Math.max(0, Math.min(9, Math.trunc(p)));
}

/** Storage queue id of a /queue/ destination. */
export function queueStoreId(destination: string): string {
  return destination;
}

/** Storage queue id of a durable subscription; `seq` makes a re-created one distinct. */
export function durableStoreId(clientId: string, name: string, seq: number): string {
  return `durable:${clientId}:${name}#${seq}`;
}
