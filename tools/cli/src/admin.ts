// `hawser browse`, `hawser purge`, `hawser delete`, `hawser destinations`, `hawser sessions`: the store's Admin gRPC service
// (proto/hawser/admin.proto), and the gRPC plumbing `hawser status` shares.
import {
  adminService, CHANNEL_OPTIONS, channelCredentials, grpc, loadTls, useTls,
  type BrowseItem, type BrowseRequest, type DeleteReply, type DeleteRequest, type DestinationsReply, type DestinationsRequest, type PurgeReply, type PurgeRequest,
  type SessionsReply, type SessionsRequest,
} from '@hawser/proto';
import { createInterface } from 'node:readline';
import { parseHostPort, type OptionSpec, type ParsedArgs } from './args';
import { OperationError, UnreachableError, UsageError } from './errors';
import { bodyFields, bodyLine, plural, table, truncate } from './format';
import type { Command, Io } from './io';

export const STORE_OPTIONS: OptionSpec[] = [
  { name: 'store', type: 'string', default: '127.0.0.1:61620', arg: 'host:port', help: 'the store\'s gRPC address' },
  { name: 'timeout', type: 'int', default: 5000, min: 1, arg: 'ms', help: 'deadline of each gRPC call' },
  ...tlsOptions(),
];

/** --tls.ca/--tls.cert/--tls.key: the admin certificate for a cluster with mutual TLS (defaults: $HAWSER_TLS_CA, ...). */
export function tlsOptions(): OptionSpec[] {
  const env = (k: string) => process.env[`HAWSER_TLS_${k.toUpperCase()}`];
  return [
    { name: 'tls.ca', type: 'string', arg: 'pem', default: env('ca'), help: 'CA of a cluster with mutual TLS (with --tls.cert, --tls.key; `hawser certs` makes them); default $HAWSER_TLS_CA' },
    { name: 'tls.cert', type: 'string', arg: 'pem', default: env('cert'), help: 'this client\'s certificate (role admin); default $HAWSER_TLS_CERT' },
    { name: 'tls.key', type: 'string', arg: 'pem', default: env('key'), help: 'its private key; default $HAWSER_TLS_KEY' },
  ];
}

/** Sets this process's gRPC identity from --tls.* (none given: insecure). A bad set is a usage error naming the option. */
export function useTlsArgs(args: ParsedArgs): void {
  try {
    useTls(loadTls({ ca: args.str('tls.ca') ?? '', cert: args.str('tls.cert') ?? '', key: args.str('tls.key') ?? '' }));
  } catch (e) {
    throw new UsageError(`--${(e as Error).message}`, args.command);
  }
}

/** A gRPC client for `service` at `address`. Close it when done. */
export function grpcClient(service: grpc.ServiceClientConstructor, address: string): grpc.Client {
  return new service(address, channelCredentials(), { ...CHANNEL_OPTIONS, 'grpc.enable_retries': 0 });
}

/**
 * Maps a gRPC failure: UNAVAILABLE, or a deadline hit while the channel never connected,
 * means nothing answers at `address` (exit 3); anything else is a failed operation (exit 1).
 */
export function grpcError(err: grpc.ServiceError, client: grpc.Client, what: string, address: string): Error {
  const details = grpcDetails(err);
  const connected = client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
  if (err.code === grpc.status.UNAVAILABLE || (err.code === grpc.status.DEADLINE_EXCEEDED && !connected)) {
    return new UnreachableError(`cannot reach ${what} at ${address}: ${details}`, { cause: err });
  }
  return new OperationError(`${what} at ${address}: ${grpc.status[err.code] ?? err.code}: ${details}`, { cause: err });
}

/** grpc-js's UNAVAILABLE text, cut to the socket error ("connect ECONNREFUSED 127.0.0.1:61620"). */
export function grpcDetails(err: { details?: string; message: string }): string {
  const text = (err.details || err.message).replace(/\s*\n\s*/g, ' ').trim();
  const m = /Last error: (?:Error: )?(.*?)(?:\.\s*Resolution note:.*)?$/.exec(text);
  return (m?.[1] ?? text).replace(/\.\s*$/, '').trim() || text;
}

/** One unary call with a deadline. */
export function unary<Req, Res>(client: grpc.Client, method: string, request: Req, timeoutMs: number, what: string, address: string): Promise<Res> {
  const fn = (client as unknown as Record<string, Function>)[method];
  if (typeof fn !== 'function') throw new Error(`bug: no method ${method}`);
  return new Promise<Res>((resolve, reject) => {
    fn.call(client, request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: Res) => {
      if (err) reject(grpcError(err, client, what, address));
      else resolve(res);
    });
  });
}

/** Runs `fn` with an Admin client on --store, closing it after. */
export async function withAdmin<T>(args: ParsedArgs, fn: (client: grpc.Client, address: string, timeoutMs: number) => Promise<T>): Promise<T> {
  const address = parseHostPort('store', args.str('store')!, args.command);
  const client = grpcClient(adminService(), address);
  try {
    return await fn(client, address, args.int('timeout')!);
  } finally {
    client.close();
  }
}

// ---- browse ----------------------------------------------------------------------------

export function browseItemJson(m: BrowseItem): Record<string, unknown> {
  return {
    id: m.id,
    destination: m.destination,
    persistent: m.persistent,
    priority: m.priority,
    timestamp: m.timestamp,
    expires: m.expires,
    deliveryCount: m.deliveryCount,
    headers: { ...m.headers },
    ...bodyFields(Buffer.from(m.body)),
  };
}

export function browseTable(items: readonly BrowseItem[]): string {
  return table(items, [
    { title: 'ID', value: (m) => m.id },
    { title: 'PRI', value: (m) => m.priority, align: 'right' },
    { title: 'PERSISTENT', value: (m) => (m.persistent ? 'yes' : 'no') },
    { title: 'DELIVERIES', value: (m) => m.deliveryCount, align: 'right' },
    { title: 'TIMESTAMP', value: (m) => (m.timestamp ? new Date(m.timestamp).toISOString() : '') },
    { title: 'BODY', value: (m) => truncate(bodyLine(Buffer.from(m.body)), 60) },
  ]);
}

export const browse: Command = {
  spec: {
    name: 'browse',
    summary: 'List the messages waiting on a queue without consuming them (store Admin.Browse).',
    positionals: [{ name: 'destination', required: true, help: '/queue/<name>' }],
    options: [
      ...STORE_OPTIONS,
      { name: 'limit', type: 'int', default: 100, min: 1, arg: 'N', help: 'at most N messages' },
      { name: 'selector', type: 'string', arg: 'S', help: 'only messages matching this JMS selector' },
      { name: 'json', type: 'bool', help: 'one JSON object per message: {id, destination, persistent, priority, timestamp, expires, deliveryCount, headers, body, bodyEncoding}' },
    ],
    examples: ['hawser browse /queue/orders --limit 10', 'hawser browse /queue/orders --json --store 10.0.0.5:61620'],
  },
  async run(args, io) {
    const [destination] = args.positionals as [string];
    const request: BrowseRequest = { destination, limit: args.int('limit')!, selector: args.str('selector') ?? '' };
    const items = await withAdmin(args, (client, address, timeoutMs) => new Promise<BrowseItem[]>((resolve, reject) => {
      const out: BrowseItem[] = [];
      const call = (client as unknown as { Browse(r: BrowseRequest, o: grpc.CallOptions): grpc.ClientReadableStream<BrowseItem> })
        .Browse(request, { deadline: Date.now() + timeoutMs });
      call.on('data', (m: BrowseItem) => out.push(m));
      call.on('error', (err: grpc.ServiceError) => reject(grpcError(err, client, 'the store', address)));
      call.on('end', () => resolve(out));
    }));
    if (args.bool('json')) for (const m of items) io.out(`${JSON.stringify(browseItemJson(m))}\n`);
    else if (items.length === 0) io.out(`no messages on ${destination}\n`);
    else io.out(browseTable(items));
    return 0;
  },
};

// ---- purge -----------------------------------------------------------------------------

export const purge: Command = {
  spec: {
    name: 'purge',
    summary: 'Delete every message waiting on a queue (store Admin.Purge). Messages in flight to consumers stay.',
    positionals: [{ name: 'destination', required: true, help: '/queue/<name>' }],
    options: [...STORE_OPTIONS, { name: 'json', type: 'bool', help: 'print {"destination","removed"}' }],
    examples: ['hawser purge /queue/orders'],
  },
  async run(args, io) {
    const [destination] = args.positionals as [string];
    const reply = await withAdmin(args, (client, address, timeoutMs) =>
      unary<PurgeRequest, PurgeReply>(client, 'Purge', { destination }, timeoutMs, 'the store', address));
    if (args.bool('json')) io.out(`${JSON.stringify({ destination, removed: reply.removed })}\n`);
    else io.out(`purged ${plural(reply.removed, 'message')} from ${destination}\n`);
    return 0;
  },
};

// ---- delete ----------------------------------------------------------------------------

/**
 * Asks "[y/N]" on stderr and reads one line of stdin: true only for y or yes. Asked only when
 * stdin is a terminal; a script (no terminal) passes --yes instead.
 */
async function confirmed(io: Io, question: string): Promise<boolean> {
  io.err(question);
  const rl = createInterface({ input: io.stdin, terminal: false });
  try {
    const line = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return /^\s*y(es)?\s*$/i.test(line);
  } finally {
    rl.close();
  }
}

export const del: Command = {
  spec: {
    name: 'delete',
    summary: 'Delete a destination with its messages (store Admin.Delete): a queue without consumers, a topic without subscribers, or a durable subscription by its listed name. Asks first, or --yes.',
    positionals: [{ name: 'destination', required: true, help: '/queue/<name>, /topic/<name> or durable:<client>:<name> (as `hawser destinations` lists it)' }],
    options: [
      ...STORE_OPTIONS,
      { name: 'yes', type: 'bool', help: 'delete without asking (needed when stdin is not a terminal)' },
      { name: 'json', type: 'bool', help: 'print {"destination","removed"}' },
    ],
    examples: ['hawser delete /queue/orders.old', 'hawser delete durable:billing:audit --yes --store 10.0.0.5:61620'],
  },
  async run(args, io) {
    const [destination] = args.positionals as [string];
    if (!args.bool('yes')) {
      if (!(io.stdin as { isTTY?: boolean } | undefined)?.isTTY) {
        throw new UsageError(`deleting ${destination} cannot be undone: pass --yes to confirm (stdin is not a terminal to ask on)`, 'delete');
      }
      if (!(await confirmed(io, `Delete ${destination} and every message waiting on it? This cannot be undone. [y/N] `))) {
        throw new OperationError(`${destination} not deleted: not confirmed`);
      }
    }
    const reply = await withAdmin(args, (client, address, timeoutMs) =>
      unary<DeleteRequest, DeleteReply>(client, 'Delete', { destination }, timeoutMs, 'the store', address));
    const removed = Number(reply.removed);
    if (args.bool('json')) io.out(`${JSON.stringify({ destination, removed })}\n`);
    else io.out(`deleted ${destination}${removed ? ` and ${plural(removed, 'message')}` : ''}\n`);
    return 0;
  },
};

// ---- destinations ----------------------------------------------------------------------

export function destinationsTable(reply: DestinationsReply): string {
  return table(reply.destinations, [
    { title: 'DESTINATION', value: (d) => d.name },
    { title: 'DEPTH', value: (d) => d.depth, align: 'right' },
    { title: 'INFLIGHT', value: (d) => d.inflight, align: 'right' },
    { title: 'CONSUMERS', value: (d) => d.consumers, align: 'right' },
    { title: 'ENQUEUED', value: (d) => d.enqueued, align: 'right' },
    { title: 'DEQUEUED', value: (d) => d.dequeued, align: 'right' },
  ]);
}

export function fetchDestinations(client: grpc.Client, address: string, timeoutMs: number, prefix = ''): Promise<DestinationsReply> {
  return unary<DestinationsRequest, DestinationsReply>(client, 'Destinations', { prefix }, timeoutMs, 'the store', address)
    .then((r) => ({ destinations: r.destinations ?? [] }));
}

export const destinations: Command = {
  spec: {
    name: 'destinations',
    summary: 'List the store\'s destinations with depth, in-flight, consumers and totals (store Admin.Destinations).',
    positionals: [],
    options: [
      ...STORE_OPTIONS,
      { name: 'prefix', type: 'string', arg: 'P', help: 'only names starting with P, e.g. /queue/' },
      { name: 'json', type: 'bool', help: 'print {"destinations":[{name, depth, inflight, consumers, enqueued, dequeued}]}' },
    ],
  },
  async run(args, io) {
    const reply = await withAdmin(args, (client, address, timeoutMs) => fetchDestinations(client, address, timeoutMs, args.str('prefix') ?? ''));
    if (args.bool('json')) io.out(`${JSON.stringify(reply)}\n`);
    else if (reply.destinations.length === 0) io.out('no destinations\n');
    else io.out(destinationsTable(reply));
    return 0;
  },
};

// ---- sessions --------------------------------------------------------------------------

/** One line per subscription (a session without one: one line with '-'): who holds what in flight. */
export function sessionsTable(reply: SessionsReply): string {
  const rows = reply.sessions.flatMap((s) => (s.subscriptions.length ? s.subscriptions : [undefined]).map((sub) => ({ s, sub })));
  return table(rows, [
    { title: 'SESSION', value: (r) => r.s.id },
    { title: 'CONNECTION', value: (r) => r.s.connectionId },
    { title: 'GATEWAY', value: (r) => r.s.gateway },
    { title: 'VIA', value: (r) => `${r.s.via}${r.s.peer ? ` ${r.s.peer}` : ''}` },
    { title: 'CLIENT-ID', value: (r) => r.s.clientId },
    { title: 'OPENED', value: (r) => (r.s.openedAt ? new Date(Number(r.s.openedAt)).toISOString() : '') },
    { title: 'SUBSCRIPTION', value: (r) => (r.sub ? `${r.sub.id} ${r.sub.destination}` : '') },
    { title: 'ACK', value: (r) => r.sub?.ackMode },
    { title: 'PREFETCH', value: (r) => r.sub?.prefetch, align: 'right' },
    { title: 'INFLIGHT', value: (r) => (r.sub ? r.sub.inflight : r.s.inflight), align: 'right' },
    { title: 'STATE', value: (r) => [r.s.network ? 'bridge' : '', r.s.paused ? 'paused' : '', r.s.closed ? 'closed' : ''].filter(Boolean).join(',') },
  ]);
}

export function fetchSessions(client: grpc.Client, address: string, timeoutMs: number, destination = ''): Promise<SessionsReply> {
  return unary<SessionsRequest, SessionsReply>(client, 'Sessions', { destination }, timeoutMs, 'the store', address)
    .then((r) => ({ sessions: (r.sessions ?? []).map((s) => ({ ...s, subscriptions: s.subscriptions ?? [] })) }));
}

export const sessions: Command = {
  spec: {
    name: 'sessions',
    summary: 'List the client sessions the store holds: connection, gateway, how each reached the store, subscriptions and messages in flight (store Admin.Sessions; ask the master).',
    positionals: [],
    options: [
      ...STORE_OPTIONS,
      { name: 'destination', type: 'string', arg: 'D', help: 'only sessions with a subscription on a destination (or storage queue) starting with D, e.g. /queue/orders' },
      { name: 'json', type: 'bool', help: 'print {"sessions":[{id, connectionId, clientId, login, gateway, via, peer, network, openedAt, inflight, paused, closed, subscriptions:[{id, destination, queue, ackMode, prefetch, inflight, durable}]}]}' },
    ],
  },
  async run(args, io) {
    const reply = await withAdmin(args, (client, address, timeoutMs) => fetchSessions(client, address, timeoutMs, args.str('destination') ?? ''));
    if (args.bool('json')) io.out(`${JSON.stringify(reply)}\n`);
    else if (reply.sessions.length === 0) io.out('no sessions\n');
    else io.out(sessionsTable(reply));
    return 0;
  },
};
