// STOMP destination names as ActiveMQ 5.x's STOMP connector reads them, mapped to the broker
// core's names (libs/broker/src/destinations.ts) and back, for one connection:
//
//   client writes                      broker name                        client reads back
//   /queue/a, /topic/a                 the same                           the same
//   a  (no /queue/ or /topic/)         /queue/a  (ActiveMQ's default)     /queue/a
//   /temp-queue/x  (its own)           /temp-queue/<owner>/x              /temp-queue/x
//   /remote-temp-queue/<owner>/x       /temp-queue/<owner>/x              /remote-temp-queue/<owner>/x (another connection's)
//   /queue/a,/topic/b                  each part mapped, joined by ','    the same, per part
//
// /temp-topic/ and /remote-temp-topic/ likewise. <owner> is the connection's id, escaped as the
// core does (tempOwnerKey): the core knows a temp destination's connection by it. Applied to
// SEND and SUBSCRIBE destinations and to the reply-to header, both ways; a MESSAGE's
// original-destination (composite and virtual topic copies) is mapped back too.

const SEPARATOR = ',';

/** The key of a connection in temp destination names: libs/broker/src/destinations.ts tempOwnerKey. */
export function tempOwnerKey(connectionId: string): string {
  return connectionId.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** Headers whose values are destinations, mapped like `destination`. */
export const DESTINATION_HEADERS = ['reply-to', 'original-destination'] as const;

export class StompDestinations {
  private readonly owner: string;

  constructor(connectionId: string) {
    this.owner = tempOwnerKey(connectionId);
  }

  /** A destination the client wrote -> the broker's name. */
  toBroker(d: string): string {
    if (!d.includes(SEPARATOR)) return this.partToBroker(d);
    return d.split(SEPARATOR).map((p) => p.trim()).filter((p) => p !== '').map((p) => this.partToBroker(p)).join(SEPARATOR);
  }

  /** A broker name -> what this client reads. */
  toClient(d: string): string {
    if (!d.includes(SEPARATOR)) return this.partToClient(d);
    return d.split(SEPARATOR).map((p) => this.partToClient(p)).join(SEPARATOR);
  }

  private partToBroker(d: string): string {
    if (d.startsWith('/queue/') || d.startsWith('/topic/')) return d;
    for (const kind of ['temp-queue', 'temp-topic'] as const) {
      const own = `/${kind}/`;
      if (d.startsWith(own) && d.length > own.length) return `${own}${this.owner}/${d.slice(own.length)}`;
      const remote = `/remote-${kind}/`;
      if (d.startsWith(remote) && d.length > remote.length) return `${own}${d.slice(remote.length)}`;
    }
    // ActiveMQ: a destination without a kind prefix is a queue.
    return `/queue/${d}`;
  }

  private partToClient(d: string): string {
    for (const kind of ['temp-queue', 'temp-topic'] as const) {
      const prefix = `/${kind}/`;
      if (!d.startsWith(prefix)) continue;
      const rest = d.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash > 0 && rest.slice(0, slash) === this.owner) return `${prefix}${rest.slice(slash + 1)}`;
      return `/remote-${kind}/${rest}`;
    }
    return d;
  }
}
