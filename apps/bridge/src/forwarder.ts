// The active bridge's work: one network Broker.Session per linked group (on its current
// master), the subscriptions @hawser/network wants, and the forwarding of every delivery.
//
// Exactly once across a link (docs/architecture.md, bridge):
//   delivery from source S (client-individual ack, bounded prefetch)
//     -> Send to target T's master with the SAME message id and requestId != 0
//     -> T's Receipt (the entry is committed per T's sync mode)
//     -> Ack of the delivery in S.
// A crash or failover at any step leaves the delivery unacked in S: it comes again (to this
// bridge after a reconnect, or to the standby) and is sent again with the same id; T's
// duplicate check drops the second copy. Forwards to a T whose session failed are resent on
// T's next session; forwards from an S whose session failed are abandoned (S redelivers).
//
// A queue delivery the bridge must not forward (visited/TTL — the subscription's selector
// should have kept it away) is never acked: it stays with the bridge until the subscription
// ends, then goes back to S's queue for S's own consumers. A topic copy that may not go on is
// acked (it is the bridge's own copy).
//
// Removing a subscription (demand gone) drains it first: deliveries that arrive after the
// decision are not forwarded, forwards already sent are allowed to finish (acked on receipt),
// and only then is the Unsubscribe sent — the held deliveries go back to S's queue. Sending
// Unsubscribe at once would return in-flight ones too, and they could then be consumed in S
// AND arrive in T.
import { grpc, adminService, channelCredentials, CHANNEL_OPTIONS } from '@hawser/proto';
import type { DestinationsReply, DestinationsRequest, Message, SessionEvent } from '@hawser/proto';
import { warnEvery, type Logger } from '@hawser/observability';
import { bridgeClientId, decideForward, type BridgeSubscription, type DemandSnapshot, type DestinationDemand, type Link } from '@hawser/network';
import { BrokerClients, NetworkSession } from './session';
import type { MasterDirectory, MasterInfo } from './masters';
import type { BridgeMetrics } from './metrics';
import type { BridgeError } from './errors';

export interface ForwarderOptions {
  bridgeId: string;
  linkName: string;
  /** Who its sessions are on the stores (the authorization map checks them). Default: 'bridge' in group 'bridges'. */
  principal?: { login: string; groups: string[] };
  link: Link;
  prefetch: number;
  demandPollMs: number;
  masters: MasterDirectory;
  metrics: BridgeMetrics;
  log: Logger;
}

/** Store error codes that mean "try again on the (next) master". */
const RETRY_CODES: ReadonlySet<string> = new Set(['NOT_MASTER', 'UNAVAILABLE', 'NO_QUORUM']);

interface SubState {
  sub: BridgeSubscription;
  id: string;
  phase: 'active' | 'draining';
  /** Forwards of this subscription not yet acked. */
  inflight: number;
  /** Deliveries kept unacked (not forwardable / refused by the target). */
  held: number;
}

interface Forward {
  source: string;
  sourceGen: number;
  subId: string;
  kind: 'queue' | 'topic';
  deliveryTag: number;
  target: string;
  message: Message;
  startedAt: bigint;
  requestId: number;
}

class GroupLink {
  gen = 0;
  session: NetworkSession | undefined;
  master: MasterInfo | undefined;
  /** Subscriptions of this group as the source, by subscription id. */
  readonly subs = new Map<string, SubState>();
  /** Subscribe requests awaiting an answer (request id -> subscription id). */
  readonly subscribing = new Map<number, string>();
  /** Forwards INTO this group not yet receipted (resent on the next session). */
  readonly outbox = new Set<Forward>();
  readonly byRequest = new Map<number, Forward>();
  retryTimer: NodeJS.Timeout | undefined;
  retryDelay = 100;
  demand: DestinationDemand[] | undefined;
  constructor(readonly group: string) {}
  get up(): boolean { return this.session !== undefined && !this.session.closed; }
}

export class Forwarder {
  private readonly groups = new Map<string, GroupLink>();
  private readonly clients = new BrokerClients();
  private readonly admins = new Map<string, grpc.Client>();
  private previous: BridgeSubscription[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private running = false;
  private inflight = 0;
  private readonly warn: ReturnType<typeof warnEvery>;
  /** Forwards completed (tests, /status). */
  forwarded = 0;

  constructor(private readonly opts: ForwarderOptions) {
    for (const g of opts.link.opts.groups) this.groups.set(g, new GroupLink(g));
    this.warn = warnEvery(opts.log, 5_000);
    opts.masters.onChange((group) => { if (this.running) this.follow(group); });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const g of this.groups.keys()) this.follow(g);
    void this.poll();
  }

  /** Ends every session (queued acks go out first). Unreceipted forwards are left to the source's redelivery. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.pollTimer);
    for (const l of this.groups.values()) {
      clearTimeout(l.retryTimer);
      const s = l.session;
      l.session = undefined;
      l.gen++;
      s?.end();
      l.subs.clear();
      l.subscribing.clear();
      l.outbox.clear();
      l.byRequest.clear();
      this.opts.metrics.sessionUp.set({ group: l.group }, 0);
    }
    this.inflight = 0;
    this.opts.metrics.inflight.set(0);
  }

  close(): void {
    this.stop();
    this.clients.close();
    for (const c of this.admins.values()) c.close();
    this.admins.clear();
  }

  // ---- sessions -------------------------------------------------------------------------------

  /** Opens (or moves) the group's session to its current master. */
  private follow(group: string): void {
    const l = this.groups.get(group)!;
    const m = this.opts.masters.master(group);
    if (l.up && l.master && m && l.master.address === m.address && l.master.epoch === m.epoch) return;
    if (l.session) {
      this.opts.log.info({ group, from: l.master?.address, to: m?.address }, 'group master changed; moving the network session');
      this.lost(l, `master moved to ${m?.address ?? 'none'}`, false);
    }
    if (!m) {
      this.warn(`nomaster:${group}`, { group, why: this.opts.masters.describe(group) }, 'group has no master; forwarding to and from it waits');
      return;
    }
    this.open(l, m);
  }

  private open(l: GroupLink, m: MasterInfo): void {
    clearTimeout(l.retryTimer);
    const gen = ++l.gen;
    l.master = m;
    const session = new NetworkSession(this.clients.get(m.address), {
      onEvent: (ev) => { if (l.gen === gen) this.onEvent(l, ev); },
      onFailure: (err) => { if (l.gen === gen) this.onFailure(l, err); },
    });
    l.session = session.start();
    session.request('open', {
      connectionId: `bridge:${this.opts.bridgeId}:${l.group}`,
      clientId: bridgeClientId(this.opts.linkName),
      login: this.opts.principal?.login ?? 'bridge',
      groups: this.opts.principal?.groups ?? ['bridges'],
      gateway: this.opts.bridgeId,
      network: true,
    });
    this.opts.metrics.sessionUp.set({ group: l.group }, 1);
    this.opts.log.info({ group: l.group, master: m.id, address: m.address, epoch: m.epoch, resend: l.outbox.size }, 'network session opened');
    // Resubscribe what is wanted from this group, resend what was not receipted into it.
    for (const sub of this.previous) if (sub.source === l.group) this.subscribe(l, sub);
    for (const f of l.outbox) this.sendForward(l, f);
  }

  private onFailure(l: GroupLink, err: BridgeError): void {
    this.warn(`fail:${l.group}`, { group: l.group, address: l.master?.address, err: err.message, code: err.code }, 'network session lost');
    this.lost(l, err.message, true);
  }

  /** The group's session is gone: its deliveries are void, forwards into it wait for the next one. */
  private lost(l: GroupLink, why: string, retry: boolean): void {
    const gen = l.gen;
    l.gen++;
    const s = l.session;
    l.session = undefined;
    s?.cancel();
    l.subs.clear();
    l.subscribing.clear();
    l.byRequest.clear();
    for (const f of l.outbox) f.requestId = 0;
    this.opts.metrics.sessionUp.set({ group: l.group }, 0);
    // Forwards FROM this group cannot be acked any more: the source redelivers them.
    for (const other of this.groups.values()) {
      for (const f of other.outbox) {
        if (f.source === l.group && f.sourceGen === gen) {
          other.outbox.delete(f);
          if (f.requestId) other.byRequest.delete(f.requestId);
          this.inflight--;
        }
      }
    }
    this.opts.metrics.inflight.set(this.inflight);
    void why;
    if (retry && this.running) {
      const delay = l.retryDelay;
      l.retryDelay = Math.min(l.retryDelay * 2, 2_000);
      clearTimeout(l.retryTimer);
      l.retryTimer = setTimeout(() => { if (this.running && !l.up) this.follow(l.group); }, delay);
      l.retryTimer.unref();
    }
  }

  // ---- events ---------------------------------------------------------------------------------

  private onEvent(l: GroupLink, ev: SessionEvent): void {
    switch (ev.kind) {
      case 'opened':
        l.retryDelay = 100;
        return;
      case 'delivery':
        return this.onDelivery(l, ev.delivery.subscriptionId, ev.delivery.deliveryTag, ev.delivery.message);
      case 'receipt': {
        const f = l.byRequest.get(ev.receipt.requestId);
        if (f) {
          l.byRequest.delete(ev.receipt.requestId);
          l.outbox.delete(f);
          this.completed(f);
          return;
        }
        const subId = l.subscribing.get(ev.receipt.requestId);
        if (subId !== undefined) l.subscribing.delete(ev.receipt.requestId);
        return;
      }
      case 'error': {
        const e = ev.error;
        if (e.fatal) {
          this.warn(`fatal:${l.group}`, { group: l.group, code: e.code, err: e.message }, 'the store ended the network session');
          this.lost(l, e.message, true);
          return;
        }
        const f = l.byRequest.get(e.requestId);
        if (f) {
          l.byRequest.delete(e.requestId);
          f.requestId = 0;
          if (RETRY_CODES.has(e.code)) {
            // NO_QUORUM etc.: the forward stays in the outbox; try again shortly.
            const gen = l.gen;
            setTimeout(() => { if (l.gen === gen && l.outbox.has(f) && !f.requestId) this.sendForward(l, f); }, 500).unref();
          } else {
            // The target refuses the message itself: never ack it in the source (no loss).
            l.outbox.delete(f);
            this.inflight--;
            this.opts.metrics.inflight.set(this.inflight);
            this.opts.metrics.held.inc({ source: f.source, target: f.target, reason: 'refused' });
            this.warn(`refused:${f.target}`, { source: f.source, target: f.target, id: f.message.id, code: e.code, err: e.message }, 'target refused a forwarded message; it stays unacked in the source');
          }
          return;
        }
        const subId = l.subscribing.get(e.requestId);
        if (subId !== undefined) {
          // e.g. DUPLICATE_SUBSCRIPTION: the link's durable is still active on a dying
          // bridge's session. Forget it; the next poll subscribes again.
          l.subscribing.delete(e.requestId);
          l.subs.delete(subId);
          this.warn(`sub:${l.group}:${subId}`, { group: l.group, subscription: subId, code: e.code, err: e.message }, 'bridge subscription refused; retrying at the next demand poll');
          return;
        }
        this.warn(`err:${l.group}`, { group: l.group, code: e.code, err: e.message }, 'store error on the network session');
        return;
      }
    }
  }

  private onDelivery(l: GroupLink, subId: string, deliveryTag: number, message: Message): void {
    const st = l.subs.get(subId);
    if (!st || st.phase === 'draining') return; // not acked: back to the queue on unsubscribe
    const sub = st.sub;
    const d = decideForward(message.headers ?? {}, sub.source, sub.target, this.opts.link.opts.networkTTL, sub.replay, message.id);
    if (!d.forward) {
      if (sub.kind === 'topic') l.session?.request('ack', { deliveryTag, transaction: '' });
      else {
        st.held++;
        this.opts.metrics.held.inc({ source: sub.source, target: sub.target, reason: d.reason });
        this.warn(`held:${sub.key}`, { subscription: sub.key, id: message.id, reason: d.reason, detail: d.detail }, 'queue message may not be forwarded; left unacked (selector should have kept it away)');
      }
      return;
    }
    const target = this.groups.get(sub.target)!;
    const f: Forward = {
      source: sub.source,
      sourceGen: l.gen,
      subId,
      kind: sub.kind,
      deliveryTag,
      target: sub.target,
      message: {
        id: d.id,
        destination: message.destination,
        headers: d.headers,
        body: message.body,
        persistent: message.persistent,
        priority: message.priority,
        expires: message.expires,
        timestamp: 0,
      },
      startedAt: process.hrtime.bigint(),
      requestId: 0,
    };
    st.inflight++;
    this.inflight++;
    this.opts.metrics.inflight.set(this.inflight);
    target.outbox.add(f);
    if (target.up) this.sendForward(target, f);
  }

  private sendForward(target: GroupLink, f: Forward): void {
    if (!target.session || target.session.closed) return;
    f.requestId = target.session.request('send', { message: f.message, transaction: '' }, true);
    target.byRequest.set(f.requestId, f);
  }

  /** The target has the message: ack it in the source (if that session is still the one it came on). */
  private completed(f: Forward): void {
    this.inflight--;
    this.opts.metrics.inflight.set(this.inflight);
    const src = this.groups.get(f.source)!;
    if (src.gen !== f.sourceGen || !src.session) return;
    src.session.request('ack', { deliveryTag: f.deliveryTag, transaction: '' });
    this.forwarded++;
    this.opts.metrics.forwarded.inc({ source: f.source, target: f.target, kind: f.kind });
    this.opts.metrics.forwardSeconds.observe({ source: f.source, target: f.target }, Number(process.hrtime.bigint() - f.startedAt) / 1e9);
    const st = src.subs.get(f.subId);
    if (!st) return;
    st.inflight--;
    if (st.phase === 'draining' && st.inflight === 0) this.unsubscribe(src, st);
  }

  // ---- subscriptions --------------------------------------------------------------------------

  private subId(sub: BridgeSubscription): string { return `${sub.target}|${sub.destination}`; }

  private subscribe(l: GroupLink, sub: BridgeSubscription): void {
    if (!l.session || l.session.closed) return;
    const id = this.subId(sub);
    const have = l.subs.get(id);
    if (have) {
      if (have.sub.selector !== sub.selector || have.sub.priority !== sub.priority || have.sub.consumers !== sub.consumers) {
        // e.g. the source's own consumers came or went (replay <-> strict selector): drain the
        // old subscription; a later poll subscribes the new one once it is gone.
        this.drain(l, have);
        return;
      }
      if (have.phase === 'draining') have.phase = 'active';
      have.sub = sub;
      return;
    }
    l.subs.set(id, { sub, id, phase: 'active', inflight: 0, held: 0 });
    const requestId = l.session.request('subscribe', {
      subscriptionId: id,
      destination: sub.destination,
      ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL',
      prefetch: this.opts.prefetch * sub.consumers,
      selector: sub.selector,
      durableName: sub.durableName,
      noLocal: false,
      priority: sub.priority,
    }, true);
    l.subscribing.set(requestId, id);
    this.opts.log.info({ source: sub.source, target: sub.target, destination: sub.destination, reason: sub.reason, priority: sub.priority, replay: sub.replay }, 'bridge subscription added');
  }

  private drain(l: GroupLink, st: SubState): void {
    if (st.phase === 'draining') return;
    st.phase = 'draining';
    this.opts.log.info({ source: st.sub.source, target: st.sub.target, destination: st.sub.destination, inflight: st.inflight }, 'bridge subscription draining (demand gone)');
    if (st.inflight === 0) this.unsubscribe(l, st);
  }

  private unsubscribe(l: GroupLink, st: SubState): void {
    l.subs.delete(st.id);
    // A topic subscription removed for good drops its durable (and its backlog) with it —
    // unless it is only being re-made (still wanted, with other options).
    const stillWanted = this.previous.some((s) => s.key === st.sub.key);
    l.session?.request('unsubscribe', { subscriptionId: st.id, removeDurable: st.sub.kind === 'topic' && !stillWanted });
    this.opts.log.info({ source: st.sub.source, target: st.sub.target, destination: st.sub.destination }, 'bridge subscription removed');
  }

  // ---- demand ---------------------------------------------------------------------------------

  private admin(address: string): grpc.Client {
    let c = this.admins.get(address);
    if (!c) {
      const Admin = adminService();
      c = new Admin(address, channelCredentials(), CHANNEL_OPTIONS);
      this.admins.set(address, c);
    }
    return c;
  }

  private destinations(address: string): Promise<DestinationDemand[]> {
    const client = this.admin(address) as unknown as {
      Destinations(req: DestinationsRequest, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: DestinationsReply) => void): void;
    };
    const deadline = new Date(Date.now() + Math.max(1_000, this.opts.demandPollMs * 4));
    return new Promise((resolve, reject) => {
      client.Destinations({ prefix: '' }, { deadline }, (e, r) => {
        if (e) { reject(e); return; }
        resolve((r?.destinations ?? []).map((d) => ({ name: d.name, depth: d.depth, localConsumers: d.localConsumers ?? 0, networkConsumers: d.networkConsumers ?? 0 })));
      });
    });
  }

  /** One demand round: read every master's destinations, compute the wanted set, apply it. */
  private async poll(): Promise<void> {
    if (!this.running || this.polling) return;
    this.polling = true;
    try {
      const snapshot = new Map<string, DestinationDemand[] | undefined>();
      await Promise.all([...this.groups.values()].map(async (l) => {
        const m = this.opts.masters.master(l.group);
        if (!m) { snapshot.set(l.group, undefined); return; }
        try {
          const rows = await this.destinations(m.address);
          snapshot.set(l.group, rows);
          this.recordDemand(l, rows);
        } catch (e) {
          snapshot.set(l.group, undefined);
          this.warn(`poll:${l.group}`, { group: l.group, address: m.address, err: (e as grpc.ServiceError).details || (e as Error).message }, 'demand poll failed');
        }
      }));
      if (this.running) this.apply(snapshot);
    } finally {
      this.polling = false;
      if (this.running) {
        this.pollTimer = setTimeout(() => void this.poll(), this.opts.demandPollMs);
        this.pollTimer.unref();
      }
    }
  }

  private recordDemand(l: GroupLink, rows: DestinationDemand[]): void {
    const before = new Set((l.demand ?? []).filter((r) => r.localConsumers > 0).map((r) => r.name));
    for (const r of rows) {
      if (r.localConsumers > 0 || before.has(r.name)) this.opts.metrics.demand.set({ group: l.group, destination: r.name }, r.localConsumers);
      before.delete(r.name);
    }
    for (const gone of before) this.opts.metrics.demand.set({ group: l.group, destination: gone }, 0);
    l.demand = rows;
  }

  /** Makes the sessions' subscriptions match the wanted set. */
  apply(snapshot: DemandSnapshot): void {
    const wanted = this.opts.link.wanted(snapshot, this.previous);
    this.previous = wanted.subscriptions;
    const counts = new Map<string, number>();
    for (const l of this.groups.values()) {
      if (!l.up) continue;
      const mine = new Map(wanted.subscriptions.filter((s) => s.source === l.group).map((s) => [this.subId(s), s]));
      for (const st of [...l.subs.values()]) if (!mine.has(st.id) && !st.id.startsWith('orphan|')) this.drain(l, st);
      for (const s of mine.values()) this.subscribe(l, s);
      for (const o of wanted.orphans) {
        if (o.source !== l.group || l.subs.has(`${o.target}|${o.destination}`)) continue;
        // A durable of ours nobody wants any more (dynamicOnly): attach and remove it.
        const id = `orphan|${o.target}|${o.destination}`;
        l.session!.request('subscribe', { subscriptionId: id, destination: o.destination, ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: 1, selector: '', durableName: o.durableName, noLocal: false, priority: -1 });
        l.session!.request('unsubscribe', { subscriptionId: id, removeDurable: true });
        this.opts.log.info({ source: o.source, target: o.target, destination: o.destination }, 'removed an orphan bridge durable subscription');
      }
    }
    for (const s of wanted.subscriptions) counts.set(`${s.source}>${s.target}`, (counts.get(`${s.source}>${s.target}`) ?? 0) + 1);
    for (const [s, t] of this.opts.link.directions) this.opts.metrics.subscriptions.set({ source: s, target: t }, counts.get(`${s}>${t}`) ?? 0);
  }

  // ---- status ---------------------------------------------------------------------------------

  status(): Record<string, unknown> {
    const groups: Record<string, unknown> = {};
    for (const l of this.groups.values()) {
      groups[l.group] = {
        master: l.master ? { id: l.master.id, address: l.master.address, epoch: l.master.epoch } : null,
        up: l.up,
        subscriptions: [...l.subs.values()].map((s) => ({ target: s.sub.target, destination: s.sub.destination, phase: s.phase, inflight: s.inflight, held: s.held, reason: s.sub.reason, replay: s.sub.replay })),
        pendingInto: l.outbox.size,
      };
    }
    return { running: this.running, inflight: this.inflight, forwarded: this.forwarded, groups };
  }
}
