// Admin.Send and Admin.Move (proto/hawser/admin.proto): the console's "send a test message" and
// "move messages from the DLQ back". Both run as an in-process session of the broker core, the
// same way a client's session does (open, send, subscribe, ack, close), so every rule of the core
// holds: the message is journaled (and replicated) before the reply, the authorization map checks
// the principal the request names, and a message is acked on the DLQ only after its copy on the
// target has its receipt — a store that dies in between leaves it on the DLQ (never lost; at worst
// moved twice, as ActiveMQ's moveMessage).
import type { Message, SessionEvent, SessionRequest } from '@hawser/broker';

/** What the store gives an admin action: a session attached to its core (store.ts attach()). */
export type AttachSession = (peer: { write(events: SessionEvent[]): void; end(): void }) => {
  requests(items: SessionRequest[]): void;
  end(): void;
};

export class AdminActionError extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'AdminActionError';
  }
}

export interface Principal { login: string; groups: string[] }

export interface SendInput extends Principal {
  destination: string;
  headers: Record<string, string>;
  body: Buffer;
  persistent: boolean;
}

/** The headers the DLQ adds (core deadLetter()); a moved message leaves them behind. */
const DLQ_HEADERS = ['originalDestination', 'dlqDeliveryFailureCause'];

/** One in-process session with awaitable receipts. */
class AdminSession {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(): void; reject(e: Error): void }>();
  private readonly s: ReturnType<AttachSession>;
  private failure: Error | null = null;
  onDelivery: (d: Extract<SessionEvent, { kind: 'delivery' }>['delivery']) => void = () => {};

  constructor(attach: AttachSession) {
    this.s = attach({
      write: (events) => { for (const e of events) this.event(e); },
      end: () => this.failAll(new AdminActionError('UNAVAILABLE', 'the store ended the admin session (it stopped being master?)')),
    });
  }

  private event(e: SessionEvent): void {
    if (e.kind === 'receipt') {
      const w = this.waiting.get(e.receipt.requestId);
      this.waiting.delete(e.receipt.requestId);
      w?.resolve();
    } else if (e.kind === 'error') {
      const err = new AdminActionError(e.error.code, e.error.message);
      const w = this.waiting.get(e.error.requestId);
      if (w) { this.waiting.delete(e.error.requestId); w.reject(err); }
      if (e.error.fatal || !w) this.failAll(err);
    } else if (e.kind === 'delivery') {
      this.onDelivery(e.delivery);
    }
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** Sends one request; resolves at its receipt (after it is durable). */
  request(r: DistributiveOmit<SessionRequest, 'requestId'>): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const requestId = this.nextId++;
    const p = new Promise<void>((resolve, reject) => this.waiting.set(requestId, { resolve, reject }));
    this.s.requests([{ requestId, ...r } as SessionRequest]);
    return p;
  }

  end(): void { this.s.end(); }
}

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new AdminActionError('TIMEOUT', `${what} took longer than ${ms} ms`)), ms); }),
  ]);
}

function open(session: AdminSession, p: Principal, what: string): Promise<void> {
  return session.request({
    kind: 'open',
    open: { connectionId: `admin-${what}-${Date.now()}`, clientId: '', login: p.login, groups: p.groups, gateway: 'admin' },
  });
}

/** Admin.Send: one message to `destination`, as `login`/`groups` (the map checks write). Resolves with its id. */
export async function adminSend(attach: AttachSession, input: SendInput, timeoutMs = 10_000): Promise<string> {
  if (!/^\/(queue|topic)\/./.test(input.destination)) {
    throw new AdminActionError('INVALID_DESTINATION', `'${input.destination}' is not /queue/<name> or /topic/<name>`);
  }
  const session = new AdminSession(attach);
  const id = `ID:admin-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    await withTimeout((async () => {
      await open(session, input, 'send');
      const message: Message = {
        id, destination: input.destination, headers: input.headers, body: input.body,
        persistent: input.persistent, priority: 4, expires: 0, timestamp: 0,
      };
      await session.request({ kind: 'send', send: { message, transaction: '' } });
    })(), timeoutMs, 'sending the message');
    return id;
  } finally {
    session.end();
  }
}

/**
 * Resolves once every entry the core has made so far is durable (per the sync mode): the receipt
 * of an in-process session's open leaves only then (persist before you send). Admin.Delete
 * answers after it, so a deletion it reported cannot be lost by a failover or a crash.
 */
export async function adminDurable(attach: AttachSession, timeoutMs = 10_000): Promise<void> {
  const session = new AdminSession(attach);
  try {
    await withTimeout(open(session, { login: '', groups: [] }, 'durable'), timeoutMs, 'making the change durable');
  } finally {
    session.end();
  }
}

export interface MoveInput extends Principal {
  from: string;
  /** '' = each message's originalDestination header (the DLQ's record of where it came from). */
  to: string;
  /** At most this many (0: the depth `from` had when the move began). */
  limit: number;
  /** Messages waiting on `from` when the move began: the move stops there, so new arrivals are not chased. */
  depth: number;
}

/**
 * Admin.Move: takes messages off `from` with a client-acknowledged subscription, sends each to
 * its target and acks it on `from` once the target's copy has its receipt. Stops after
 * min(limit, depth) messages or when none arrives for `idleMs`. Messages without a target
 * (no `to`, no originalDestination) are left where they are and counted as skipped.
 */
export async function adminMove(attach: AttachSession, input: MoveInput, timeoutMs = 30_000, idleMs = 500): Promise<{ moved: number; skipped: number }> {
  if (input.to && !/^\/queue\/./.test(input.to)) throw new AdminActionError('INVALID_DESTINATION', `target '${input.to}' must be /queue/<name> (or empty: each message's originalDestination)`);
  const want = input.limit > 0 ? Math.min(input.limit, input.depth) : input.depth;
  const session = new AdminSession(attach);
  let moved = 0;
  let skipped = 0;
  try {
    if (want === 0) return { moved, skipped };
    await withTimeout((async () => {
      await open(session, input, 'move');
      const queue: Array<Extract<SessionEvent, { kind: 'delivery' }>['delivery']> = [];
      let wake: (() => void) | null = null;
      session.onDelivery = (d) => { queue.push(d); wake?.(); };
      await session.request({
        kind: 'subscribe',
        subscribe: { subscriptionId: 'move', destination: input.from, ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: Math.min(want, 100), selector: '', durableName: '', noLocal: false },
      });
      while (moved + skipped < want) {
        if (queue.length === 0) {
          const arrived = await new Promise<boolean>((resolve) => {
            const t = setTimeout(() => { wake = null; resolve(false); }, idleMs);
            wake = () => { clearTimeout(t); wake = null; resolve(true); };
          });
          if (!arrived) break;
          continue;
        }
        const d = queue.shift()!;
        const target = input.to || d.message.headers.originalDestination || '';
        if (!/^\/queue\/./.test(target)) { skipped++; continue; } // stays unacked: back on `from` when the session closes
        const headers: Record<string, string> = { ...d.message.headers, originalMessageId: d.message.id };
        for (const h of DLQ_HEADERS) delete headers[h];
        // A new id (the core assigns it): the same id sent again to the same queue by the same
        // login within the dedup window would be dropped as a duplicate — and then acked here.
        await session.request({ kind: 'send', send: { message: { ...d.message, id: '', destination: target, headers }, transaction: '' } });
        await session.request({ kind: 'ack', ack: { deliveryTag: d.deliveryTag, transaction: '' } });
        moved++;
      }
    })(), timeoutMs, `moving messages from ${input.from}`);
    return { moved, skipped };
  } finally {
    session.end();
  }
}
