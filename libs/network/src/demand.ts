// Which bridge subscriptions should exist, from the demand each linked group reports
// (Admin.Destinations) and the link's options (ActiveMQ's networkConnector attributes).
//
// One subscription = (source group, destination, target group): the bridge consumes the
// destination in the source group and sends what it gets into the target group.
//
// Queues (demand-driven): S -> T for queue X while T has LOCAL consumers on X. The bridge
// subscribes in S at priority -1 (decreaseNetworkConsumerPriority), so S's own local consumers
// get S's messages first and the bridge only takes what they leave: messages waiting in S with
// no local consumer (including those stranded before T's consumers appeared) or beyond their
// prefetch. When T's consumers go, the subscription goes (a queue message must not move to a
// group where nobody takes it).
//
// Topics: S -> T for topic X while T has local subscribers on X (durable ones count while
// active). One subscription per (S, X, T) whatever the number of subscribers in T
// (conduitSubscriptions; for topics always, or T's subscribers would get copies). The bridge's
// topic subscriptions are durable in S (named after T and X, owned by the link's client id),
// so a bridge failover loses no publication. With dynamicOnly=false (ActiveMQ's default) a
// topic subscription, once made, stays — also across bridge restarts, found again in S's
// listing — so remote durable subscribers that are offline still get what was published
// meanwhile; with dynamicOnly=true it follows the live demand and is removed with it.
//
// Demand of a group that could not be read (no master, poll failed) is unknown: the
// subscriptions towards it stay as they were (no churn on a transient failure).
import { anyMatches, compileFilters, parseDestination, type DestinationFilter, type DestinationKind } from './filter';
import { forwardSelector } from './headers';

export interface LinkOptions {
  /** The link's name: the ZooKeeper lock and the owner (client id) of its durable subscriptions. */
  link: string;
  groups: readonly string[];
  /** Forward both ways between every pair; false: only from an earlier-listed group to a later one. */
  duplex: boolean;
  networkTTL: number;
  dynamicOnly: boolean;
  staticallyIncludedDestinations: readonly string[];
  excludedDestinations: readonly string[];
  conduitSubscriptions: boolean;
  decreaseNetworkConsumerPriority: boolean;
  /** Queue messages stranded in a group without local consumers may go back / beyond the TTL (default true). */
  replayWhenNoConsumers?: boolean;
}

/** One row of Admin.Destinations, as the bridge needs it. */
export interface DestinationDemand {
  name: string;
  depth: number;
  localConsumers: number;
  networkConsumers: number;
}

/** Per group: its destinations, or undefined when its demand is unknown right now. */
export type DemandSnapshot = ReadonlyMap<string, readonly DestinationDemand[] | undefined>;

export type SubscriptionReason = 'demand' | 'static' | 'retained';

export interface BridgeSubscription {
  /** Unique per link: `${source}>${target}:${destination}`. */
  key: string;
  source: string;
  target: string;
  destination: string;
  kind: DestinationKind;
  /** Consumer priority in the source (-1 with decreaseNetworkConsumerPriority). */
  priority: number;
  /** JMS selector that keeps visited / out-of-TTL messages away from the bridge ('' when replaying). */
  selector: string;
  /** Queue, source without local consumers: stranded messages may go anywhere with consumers (no visited/TTL rule). */
  replay: boolean;
  /** Durable subscription name in the source (topics), '' for queues. */
  durableName: string;
  /** How many consumers in the target this subscription stands for (1 with conduitSubscriptions). */
  consumers: number;
  reason: SubscriptionReason;
}

/** A bridge durable subscription left in a source group that nothing wants any more. */
export interface OrphanDurable { source: string; durableName: string; destination: string; target: string }

export interface WantedSet {
  subscriptions: BridgeSubscription[];
  orphans: OrphanDurable[];
}

export class LinkConfigError extends Error {
  readonly code = 'INVALID_LINK_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'LinkConfigError';
  }
}

/** The client id of the link's network sessions (owner of its durable subscriptions). */
export function bridgeClientId(link: string): string { return `bridge:${link}`; }

/** Durable name of the topic subscription S -> T for `destination` (unique per source and client id). */
export function bridgeDurableName(target: string, destination: string): string { return `${target}|${destination}`; }

/** The store lists a durable subscription's queue as `durable:<clientId>:<name>`. */
export function parseBridgeDurable(link: string, listedName: string): { target: string; destination: string } | null {
  const prefix = `durable:${bridgeClientId(link)}:`;
  if (!listedName.startsWith(prefix)) return null;
  const name = listedName.slice(prefix.length).replace(/#\d+$/, '');
  const bar = name.indexOf('|');
  if (bar <= 0) return null;
  const target = name.slice(0, bar);
  const destination = name.slice(bar + 1);
  if (parseDestination(destination)?.kind !== 'topic') return null;
  return { target, destination };
}

/** The directions (source, target) the link forwards. */
export function directions(opts: Pick<LinkOptions, 'groups' | 'duplex'>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const g = opts.groups;
  for (let i = 0; i < g.length; i++) {
    for (let j = 0; j < g.length; j++) {
      if (i === j) continue;
      if (!opts.duplex && i > j) continue;
      out.push([g[i]!, g[j]!]);
    }
  }
  return out;
}

/** Compiled, validated link options (validate once at start). */
export class Link {
  readonly excluded: DestinationFilter[];
  readonly included: DestinationFilter[];
  readonly directions: Array<[string, string]>;

  constructor(readonly opts: LinkOptions) {
    if (new Set(opts.groups).size !== opts.groups.length) throw new LinkConfigError(`groups: a group is listed twice (${opts.groups.join(',')})`);
    if (opts.groups.length < 2) throw new LinkConfigError(`groups: a link needs at least two groups, got ${opts.groups.length}`);
    if (!Number.isInteger(opts.networkTTL) || opts.networkTTL < 1) throw new LinkConfigError(`networkTTL: expected an integer >= 1, got ${opts.networkTTL}`);
    try {
      this.excluded = compileFilters(opts.excludedDestinations);
      this.included = compileFilters(opts.staticallyIncludedDestinations);
    } catch (e) {
      throw new LinkConfigError((e as Error).message);
    }
    this.directions = directions(opts);
  }

  /** Excluded destinations are never forwarded (ActiveMQ: exclusion wins over inclusion). */
  allowed(destination: string): boolean {
    return parseDestination(destination) !== null && !anyMatches(this.excluded, destination);
  }

  private make(source: string, target: string, destination: string, consumers: number, reason: SubscriptionReason, sourceRows?: readonly DestinationDemand[]): BridgeSubscription {
    const kind = parseDestination(destination)!.kind;
    const replay = kind === 'queue' && this.opts.replayWhenNoConsumers !== false && sourceRows !== undefined
      && !sourceRows.some((r) => r.name === destination && r.localConsumers > 0);
    return {
      key: `${source}>${target}:${destination}`,
      source,
      target,
      destination,
      kind,
      priority: this.opts.decreaseNetworkConsumerPriority ? -1 : 0,
      selector: replay ? '' : forwardSelector(target, this.opts.networkTTL),
      replay,
      durableName: kind === 'topic' ? bridgeDurableName(target, destination) : '',
      consumers: kind === 'topic' || this.opts.conduitSubscriptions ? 1 : Math.max(1, consumers),
      reason,
    };
  }

  /**
   * The subscriptions that should exist now. `previous` is what the last call returned (kept
   * for directions whose target demand is unknown, and topic subscriptions with dynamicOnly=false).
   */
  wanted(demand: DemandSnapshot, previous: readonly BridgeSubscription[] = []): WantedSet {
    const out = new Map<string, BridgeSubscription>();
    const add = (s: BridgeSubscription) => {
      const had = out.get(s.key);
      // demand beats static beats retained (the reason shown in logs/metrics)
      const rank = { demand: 0, static: 1, retained: 2 } as const;
      if (!had || rank[s.reason] < rank[had.reason]) out.set(s.key, s);
    };
    // Names any group knows: wildcard static includes apply to these.
    const known = new Set<string>();
    for (const rows of demand.values()) for (const r of rows ?? []) if (parseDestination(r.name)) known.add(r.name);

    for (const [source, target] of this.directions) {
      const rows = demand.get(target);
      const sourceRows = demand.get(source);
      if (rows === undefined) {
        for (const p of previous) if (p.source === source && p.target === target && this.allowed(p.destination)) add({ ...p, reason: 'retained' });
      } else {
        for (const r of rows) {
          if (r.localConsumers > 0 && this.allowed(r.name)) add(this.make(source, target, r.name, r.localConsumers, 'demand', sourceRows));
        }
      }
      for (const f of this.included) {
        if (f.concrete) {
          const name = f.kind ? f.pattern : null;
          // a bare concrete name means both kinds
          const names = name ? [name] : [`/queue/${f.pattern}`, `/topic/${f.pattern}`];
          for (const n of names) if (this.allowed(n)) add(this.make(source, target, n, 1, 'static'));
        } else {
          for (const n of known) if (f.matches(n) && this.allowed(n)) add(this.make(source, target, n, 1, 'static'));
        }
      }
      if (!this.opts.dynamicOnly) {
        for (const p of previous) {
          if (p.kind === 'topic' && p.source === source && p.target === target && this.allowed(p.destination)) add({ ...p, reason: 'retained' });
        }
        for (const r of demand.get(source) ?? []) {
          const d = parseBridgeDurable(this.opts.link, r.name);
          if (d && d.target === target && this.allowed(d.destination)) add(this.make(source, target, d.destination, 1, 'retained'));
        }
      }
    }

    const orphans: OrphanDurable[] = [];
    for (const source of this.opts.groups) {
      for (const r of demand.get(source) ?? []) {
        const d = parseBridgeDurable(this.opts.link, r.name);
        if (!d) continue;
        if (!out.has(`${source}>${d.target}:${d.destination}`)) orphans.push({ source, target: d.target, destination: d.destination, durableName: bridgeDurableName(d.target, d.destination) });
      }
    }
    const subscriptions = [...out.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { subscriptions, orphans };
  }
}

/** What to change to get from `current` to `wanted` (by key; a changed subscription is removed and added). */
export function diffSubscriptions(current: readonly BridgeSubscription[], wanted: readonly BridgeSubscription[]): { add: BridgeSubscription[]; remove: BridgeSubscription[] } {
  const cur = new Map(current.map((s) => [s.key, s]));
  const want = new Map(wanted.map((s) => [s.key, s]));
  const same = (a: BridgeSubscription, b: BridgeSubscription) =>
    a.priority === b.priority && a.selector === b.selector && a.durableName === b.durableName && a.consumers === b.consumers && a.replay === b.replay;
  const add: BridgeSubscription[] = [];
  const remove: BridgeSubscription[] = [];
  for (const [k, w] of want) {
    const c = cur.get(k);
    if (!c) add.push(w);
    else if (!same(c, w)) { remove.push(c); add.push(w); }
  }
  for (const [k, c] of cur) if (!want.has(k)) remove.push(c);
  return { add, remove };
}
