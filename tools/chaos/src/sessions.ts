// Who holds what on each group's master when confirmed messages are still missing after the
// drain (docs/reliability.md D8): Admin.Sessions of every master, grouped per destination — each
// session's connection id, gateway, how it reached the store, its subscription and what it holds
// in flight — so a session that outlived its client (a "ghost" holding its prefetch) can be
// named, with the gateway and connection to look up in the logs.
import type { Cluster } from '@hawser/integration/dist/cluster';
import { adminService, grpc, CHANNEL_OPTIONS, type SessionInfo } from '@hawser/proto';

/** One subscription of one session, as the `sessions` note lists it under its destination. */
export interface HeldBy {
  session: string;
  connection: string;
  gateway: string;
  /** local (the master's embedded gateway), sessions / session (over gRPC, `peer`), admin. */
  via: string;
  peer: string;
  clientId: string;
  subscription: string;
  ackMode: string;
  prefetch: number;
  inflight: number;
  /** ms since the epoch. */
  openedAt: number;
  /** bridge, paused, closed. */
  state: string;
}

/** Per destination: its subscriptions' sessions, how many, and what they hold in flight. */
export interface DestinationSessions { sessions: number; inflight: number; heldBy: HeldBy[] }

/** Admin.Sessions grouped per destination, oldest session first. Pure. */
export function sessionsByDestination(sessions: readonly SessionInfo[]): Record<string, DestinationSessions> {
  const out: Record<string, DestinationSessions> = {};
  for (const s of sessions) {
    for (const sub of s.subscriptions ?? []) {
      const d = (out[sub.destination] ??= { sessions: 0, inflight: 0, heldBy: [] });
      d.sessions++;
      d.inflight += Number(sub.inflight);
      d.heldBy.push({
        session: s.id, connection: s.connectionId, gateway: s.gateway, via: s.via, peer: s.peer, clientId: s.clientId,
        subscription: sub.id, ackMode: sub.ackMode, prefetch: Number(sub.prefetch), inflight: Number(sub.inflight), openedAt: Number(s.openedAt),
        state: [s.network ? 'bridge' : '', s.paused ? 'paused' : '', s.closed ? 'closed' : ''].filter(Boolean).join(','),
      });
    }
  }
  for (const d of Object.values(out)) d.heldBy.sort((a, b) => a.openedAt - b.openedAt);
  return out;
}

/** Admin.Sessions of each group's master, per destination; a group whose master cannot be asked says why. */
export async function masterSessions(groups: readonly Cluster[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const g of groups) {
    try {
      const m = await g.master(5000);
      const client = new (adminService())(m.address, g.secure ? g.secure.credentials() : grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      type Call = (req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: Error | null, r: { sessions?: SessionInfo[] }) => void) => void;
      const call = (client as unknown as { Sessions: Call }).Sessions.bind(client);
      try {
        const sessions = await new Promise<SessionInfo[]>((res, rej) => call({ destination: '' }, new grpc.Metadata(), { deadline: Date.now() + 3000 }, (e, r) => (e ? rej(e) : res(r.sessions ?? []))));
        out[g.opts.group] = { master: g.idOf(m), destinations: sessionsByDestination(sessions) };
      } finally {
        client.close();
      }
    } catch (e) { out[g.opts.group] = `unavailable: ${(e as Error).message}`; }
  }
  return out;
}

/** One line per destination for the run's log: "g1 /queue/x: 4 sessions, 29 in flight (gw1 x2, s2 x2)". */
export function describeSessions(bygroup: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const [group, v] of Object.entries(bygroup)) {
    if (typeof v === 'string') { lines.push(`${group}: ${v}`); continue; }
    const dests = (v as { destinations: Record<string, DestinationSessions> }).destinations;
    for (const [name, d] of Object.entries(dests)) {
      const gws = new Map<string, number>();
      for (const h of d.heldBy) gws.set(h.gateway || '?', (gws.get(h.gateway || '?') ?? 0) + 1);
      lines.push(`${group} ${name}: ${d.sessions} session(s), ${d.inflight} in flight (${[...gws].map(([k, n]) => `${k} x${n}`).join(', ')})`);
    }
  }
  return lines;
}
