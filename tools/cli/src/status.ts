// `hawser status`: the topology. With --coordinators it asks Topology.Get of the first
// coordinator that answers (coordination.proto); without, it reads one standalone store's
// Admin.Status and Admin.Destinations and presents them in the same shape, so scripts
// parse one JSON document either way (the shape is documented in README.md).
import {
  topologyService, type BridgeInfo, type DestinationInfo, type GatewayInfo, type GroupInfo, type StatusReply, type TopologySnapshot, type WatchRequest,
} from '@hawser/proto';
import { parseHostPort, type ParsedArgs } from './args';
import { CliError, UnreachableError, UsageError } from './errors';
import { fetchDestinations, grpcClient, STORE_OPTIONS, unary, withAdmin } from './admin';
import { table } from './format';
import type { Command } from './io';

/** What `hawser status --json` prints: a TopologySnapshot plus where it came from. */
export interface StatusDocument extends TopologySnapshot {
  /** 'coordinator': Topology.Get; 'store': a standalone store's Admin.Status. */
  source: 'coordinator' | 'store';
  /** The address that answered. */
  address: string;
  /** Always present here (empty for a standalone store or a coordinator that predates bridges). */
  bridges: BridgeInfo[];
  /** Only with source 'store': the store's destinations. */
  destinations?: DestinationInfo[];
  /**
   * Open client connections per gateway id, by protocol family, read from each gateway's
   * /metrics (hawser_gateway_connections): stomp counts STOMP over TCP, TLS and WebSocket,
   * mqtt counts MQTT over TCP, TLS and WebSocket. Absent for a gateway whose metrics did not answer.
   */
  connections?: Record<string, { stomp: number; mqtt: number }>;
}

/** Sums hawser_gateway_connections{protocol=...} of a Prometheus text page into STOMP and MQTT. */
export function connectionCounts(metrics: string): { stomp: number; mqtt: number } {
  const out = { stomp: 0, mqtt: 0 };
  for (const line of metrics.split('\n')) {
    const m = /^hawser_gateway_connections\{([^}]*)\}\s+([0-9.eE+-]+)/.exec(line);
    if (!m) continue;
    const protocol = /protocol="([^"]*)"/.exec(m[1]!)?.[1] ?? '';
    out[protocol.startsWith('mqtt') ? 'mqtt' : 'stomp'] += Number(m[2]);
  }
  return out;
}

/** Each gateway's connection counts from its metrics endpoint (best effort, in parallel). */
async function gatewayConnections(doc: StatusDocument, timeoutMs: number): Promise<Record<string, { stomp: number; mqtt: number }>> {
  const out: Record<string, { stomp: number; mqtt: number }> = {};
  await Promise.all(doc.gateways.filter((g) => g.httpPort).map(async (g) => {
    const host = !g.host || g.host === '0.0.0.0' || g.host === '::' ? '127.0.0.1' : g.host;
    try {
      const res = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${g.httpPort}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      if (res.ok) out[g.id] = connectionCounts(await res.text());
    } catch { /* not reachable from here: no counts */ }
  }));
  return out;
}

/** Fills what proto3 defaults may leave out, so the JSON always has every field. */
export function normalizeSnapshot(s: Partial<TopologySnapshot>): TopologySnapshot & { bridges: BridgeInfo[] } {
  return {
    version: s.version ?? 0,
    groups: (s.groups ?? []).map((g) => ({ ...g, members: g.members ?? [] })),
    coordinators: s.coordinators ?? [],
    gateways: s.gateways ?? [],
    bridges: (s.bridges ?? []).map((b) => ({ ...b, groups: b.groups ?? [] })),
  };
}

/**
 * One store's status as a one-group topology. A standalone store is its group. A member of a
 * replicated (or shared-lock) group only knows its own part: the group's state and size
 * are 'unknown' (0), and the master is named only when this store is it — the coordinators
 * know the rest (`--coordinators`).
 */
export function storeSnapshot(st: StatusReply): TopologySnapshot & { bridges: BridgeInfo[] } {
  const alone = st.role === 'standalone';
  const master = alone || st.role === 'master';
  const group: GroupInfo = {
    name: st.group,
    state: alone ? 'ok' : 'unknown',
    epoch: st.epoch,
    masterId: master ? st.node : '',
    masterAddress: master ? st.address : '',
    replicas: alone ? 1 : 0,
    message: alone ? '' : `store ${st.node} is ${st.role} in epoch ${st.epoch}; ask the coordinators for the group (--coordinators)`,
    members: [{
      id: st.node, address: st.address, role: st.role, epoch: st.epoch, commitPosition: st.commitPosition,
      lastPosition: st.lastPosition, lagEntries: 0, lagSeconds: 0, pid: st.pid, weight: 0, httpPort: 0,
    }],
  };
  const host = st.address.slice(0, st.address.lastIndexOf(':'));
  const gateways = st.stompPort ? [{ id: st.node, group: st.group, host, stompPort: st.stompPort, wsPort: st.wsPort ?? 0, httpPort: 0, pid: st.pid, node: st.node }] : [];
  return { version: 0, groups: [group], coordinators: [], gateways, bridges: [] };
}

export function statusText(doc: StatusDocument): string {
  const parts: string[] = [];
  parts.push(doc.source === 'coordinator'
    ? `topology version ${doc.version} from coordinator ${doc.address}\n`
    : doc.groups[0]?.members[0]?.role === 'standalone' || !doc.groups[0]
      ? `standalone store ${doc.address}\n`
      : `store ${doc.groups[0].members[0]!.id} at ${doc.address}: ${doc.groups[0].members[0]!.role} of group ${doc.groups[0].name}, not standalone — for the whole group: hawser status --coordinators host:port,...\n`);
  parts.push('\n' + table(doc.groups, [
    { title: 'GROUP', value: (g) => g.name },
    { title: 'STATE', value: (g) => g.state },
    { title: 'EPOCH', value: (g) => g.epoch, align: 'right' },
    { title: 'REPLICAS', value: (g) => g.replicas, align: 'right' },
    { title: 'MASTER', value: (g) => (g.masterId ? `${g.masterId} ${g.masterAddress}` : '') },
    { title: 'MESSAGE', value: (g) => g.message },
  ]));
  const members = doc.groups.flatMap((g) => g.members.map((m) => ({ group: g.name, ...m })));
  if (members.length) {
    parts.push('\nMembers\n' + table(members, [
      { title: 'GROUP', value: (m) => m.group },
      { title: 'NODE', value: (m) => m.id },
      { title: 'ROLE', value: (m) => m.role },
      { title: 'EPOCH', value: (m) => m.epoch, align: 'right' },
      { title: 'COMMIT', value: (m) => m.commitPosition, align: 'right' },
      { title: 'LAST', value: (m) => m.lastPosition, align: 'right' },
      { title: 'LAG', value: (m) => m.lagEntries, align: 'right' },
      { title: 'LAG(S)', value: (m) => m.lagSeconds.toFixed(3), align: 'right' },
      { title: 'ADDRESS', value: (m) => m.address },
      { title: 'PID', value: (m) => m.pid || '', align: 'right' },
    ]));
  }
  if (doc.coordinators.length) {
    parts.push('\nCoordinators\n' + table(doc.coordinators, [
      { title: 'ID', value: (c) => c.id },
      { title: 'ADDRESS', value: (c) => c.address },
      { title: 'LEADER', value: (c) => (c.leader ? 'yes' : 'no') },
      { title: 'HTTP', value: (c) => c.httpPort || '', align: 'right' },
      { title: 'PID', value: (c) => c.pid || '', align: 'right' },
    ]));
  }
  if (doc.gateways.length) {
    parts.push('\nGateways\n' + table(doc.gateways, [
      { title: 'ID', value: (g) => g.id },
      { title: 'GROUP', value: (g) => g.group },
      // embedded gateways live in a store node; separate ones in their own process
      { title: 'NODE', value: (g) => g.node || '(separate)' },
      { title: 'HOST', value: (g) => g.host },
      { title: 'STOMP', value: (g) => g.stompPort || '', align: 'right' },
      { title: 'WS', value: (g) => g.wsPort || '', align: 'right' },
      { title: 'HTTP', value: (g) => g.httpPort || '', align: 'right' },
      { title: 'PID', value: (g) => g.pid || '', align: 'right' },
      // open client connections (from the gateways' /metrics; shown when one answered)
      ...(doc.connections ? [
        { title: 'STOMP CONNS', value: (g: GatewayInfo) => doc.connections?.[g.id]?.stomp ?? '', align: 'right' as const },
        { title: 'MQTT CONNS', value: (g: GatewayInfo) => doc.connections?.[g.id]?.mqtt ?? '', align: 'right' as const },
      ] : []),
    ]));
  }
  if (doc.bridges.length) {
    // one row per bridge process; per link the active one comes first (coordinator order)
    parts.push('\nBridges\n' + table(doc.bridges, [
      { title: 'LINK', value: (b) => b.link },
      { title: 'ID', value: (b) => b.id },
      { title: 'STATE', value: (b) => (b.active ? 'active' : 'standby') },
      { title: 'HOST', value: (b) => b.host },
      { title: 'HTTP', value: (b) => b.httpPort || '', align: 'right' },
      { title: 'PID', value: (b) => b.pid || '', align: 'right' },
    ]));
  }
  if (doc.destinations) {
    parts.push('\nDestinations\n' + (doc.destinations.length === 0 ? 'none\n' : table(doc.destinations, [
      { title: 'DESTINATION', value: (d) => d.name },
      { title: 'DEPTH', value: (d) => d.depth, align: 'right' },
      { title: 'INFLIGHT', value: (d) => d.inflight, align: 'right' },
      { title: 'CONSUMERS', value: (d) => d.consumers, align: 'right' },
    ])));
  }
  return parts.join('');
}

/** Topology.Get from the first coordinator that answers; unreachable only if none does. */
export async function fromCoordinators(addresses: string[], timeoutMs: number, group = ''): Promise<StatusDocument> {
  const failures: string[] = [];
  let lastError: unknown;
  for (const address of addresses) {
    const client = grpcClient(topologyService(), address);
    try {
      const snap = await unary<WatchRequest, TopologySnapshot>(client, 'Get', { group }, timeoutMs, 'coordinator', address);
      return { source: 'coordinator', address, ...normalizeSnapshot(snap) };
    } catch (err) {
      lastError = err;
      failures.push((err as Error).message);
    } finally {
      client.close();
    }
  }
  // One coordinator that answered with an error beats "unreachable" for the exit code.
  if (addresses.length === 1 && lastError instanceof CliError) throw lastError;
  throw new UnreachableError(`no coordinator answered: ${failures.join('; ')}`, { cause: lastError });
}

async function fromStore(args: ParsedArgs): Promise<StatusDocument> {
  return withAdmin(args, async (client, address, timeoutMs) => {
    const st = await unary<Record<string, never>, StatusReply>(client, 'Status', {}, timeoutMs, 'the store', address);
    const dest = await fetchDestinations(client, address, timeoutMs);
    return { source: 'store', address, ...storeSnapshot(st), destinations: dest.destinations };
  });
}

/** The coordinators of the local cluster (`npm start`, default ports). */
export const LOCAL_COORDINATORS = ['127.0.0.1:61630', '127.0.0.1:61631'];

export const status: Command = {
  spec: {
    name: 'status',
    summary: 'Print the topology: groups, members, coordinators, gateways, bridges (or a standalone store\'s status).',
    positionals: [],
    options: [
      { name: 'coordinators', type: 'string', arg: 'host:port,...', help: `ask these coordinators (Topology.Get; default port 61630); with neither this nor --store: the local cluster's (${LOCAL_COORDINATORS.join(',')}), then the store at 127.0.0.1:61620` },
      ...STORE_OPTIONS,
      { name: 'group', type: 'string', arg: 'G', help: 'only this group (coordinators only)' },
      { name: 'json', type: 'bool', help: 'print the TopologySnapshot-shaped JSON documented in tools/cli/README.md' },
    ],
    details: 'Exit status: 0 when the topology was read (whatever state the groups are in), 1 when the\n'
      + 'coordinator or store answered with an error, 2 usage error, 3 nothing answered.',
    examples: ['hawser status --coordinators 127.0.0.1:61630,127.0.0.1:61631', 'hawser status --json | jq \'.groups[].members[] | {id, role, lagEntries}\''],
  },
  async run(args, io) {
    const list = args.str('coordinators');
    let doc: StatusDocument;
    if (list !== undefined) {
      const addresses = list.split(',').map((a) => a.trim()).filter(Boolean)
        .map((a) => parseHostPort('coordinators', a.includes(':') && !/^\[.*\]$/.test(a) ? a : `${a}:61630`, 'status'));
      if (addresses.length === 0) throw new UsageError('--coordinators: expected host:port,...', 'status');
      doc = await fromCoordinators(addresses, args.int('timeout')!, args.str('group') ?? '');
    } else if (args.has('store')) {
      doc = await fromStore(args);
    } else {
      // No flags: the local cluster `npm start` runs — its coordinators, else a standalone store.
      doc = await fromCoordinators(LOCAL_COORDINATORS, Math.min(args.int('timeout')!, 1000)).catch((err: unknown) => {
        if (!(err instanceof UnreachableError)) throw err;
        return fromStore(args);
      });
    }
    if (doc.gateways.length) {
      const counts = await gatewayConnections(doc, Math.min(args.int('timeout')!, 2000));
      if (Object.keys(counts).length) doc.connections = counts;
    }
    io.out(args.bool('json') ? `${JSON.stringify(doc, null, 2)}\n` : statusText(doc));
    return 0;
  },
};
