// Who may call what: every RPC of proto/hawser and the roles allowed to call it, and the one
// server interceptor that enforces it (installed by `secureServerOptions` where a service makes
// its gRPC server). The caller's role and name come from its verified client certificate
// (credentials.ts); a call from a role not listed ends with PERMISSION_DENIED naming the roles
// that may make it, before the handler runs. Methods not in the table are refused (default deny).
//
// Besides the role, some requests carry the caller's own name (a replication Hello's `from`, a
// ReportMasterLost's `reporter`): a store may only speak for itself, so a name in the message
// that is not the certificate's CN is refused too. And a server may admit a role only for some
// names (`admit`: a replication peer must be a member of the store's group).
import * as grpc from '@grpc/grpc-js';
import type { Counter, Registry } from 'prom-client';
import { Counter as PromCounter } from 'prom-client';
import { identityFromSubject, processTls, type Identity, type Role } from './credentials';

const BROKER = '/hawser.broker.v1.Broker/';
const ADMIN = '/hawser.admin.v1.Admin/';
const MEMBER = '/hawser.coordination.v1.Member/';
const TOPOLOGY = '/hawser.coordination.v1.Topology/';
const REPLICATION = '/hawser.replication.v1.Replication/';

/**
 * The roles that may call each RPC, as the services really use them:
 * - Broker: gateways, bridges, and stores (a slave's embedded gateway reaches the master).
 * - Admin.Destinations: the CLI and the bridge (it polls demand); Status: the CLI and the
 *   coordinators (positions and lag); Purge, Browse, Send, Move and Delete: the CLI and the console
 *   (an admin certificate; the console checks its user's `admin` permission first); Sessions:
 *   the CLI (and tools/chaos: who holds what when messages are stuck).
 * - Member.Prepare/Assign: coordinators only (the election).
 * - Topology.Watch/Get: everything that follows the topology, and the CLI.
 * - Topology.ReportMasterLost: stores (a slave lost its master) and coordinators (a follower
 *   forwards a report to the leader).
 * - Replication: stores only (and only members of the group: the store's `admit`).
 */
export const RPC_ROLES: Readonly<Record<string, readonly Role[]>> = {
  [`${BROKER}Session`]: ['gateway', 'bridge', 'store'],
  [`${BROKER}Sessions`]: ['gateway', 'bridge', 'store'],
  [`${ADMIN}Destinations`]: ['admin', 'bridge'],
  [`${ADMIN}Status`]: ['admin', 'coordinator'],
  [`${ADMIN}Purge`]: ['admin'],
  [`${ADMIN}Browse`]: ['admin'],
  [`${ADMIN}Send`]: ['admin'],
  [`${ADMIN}Move`]: ['admin'],
  [`${ADMIN}Delete`]: ['admin'],
  [`${ADMIN}Sessions`]: ['admin'],
  [`${MEMBER}Prepare`]: ['coordinator'],
  [`${MEMBER}Assign`]: ['coordinator'],
  [`${TOPOLOGY}Watch`]: ['gateway', 'bridge', 'store', 'admin'],
  [`${TOPOLOGY}Get`]: ['gateway', 'bridge', 'store', 'admin'],
  [`${TOPOLOGY}ReportMasterLost`]: ['store', 'coordinator'],
  [`${REPLICATION}Stream`]: ['store'],
  [`${REPLICATION}Snapshot`]: ['store'],
};

type Msg = Record<string, unknown> | null | undefined;
const field = (m: Msg, k: string): string | undefined => (m && typeof m[k] === 'string' && m[k] ? (m[k] as string) : undefined);

/**
 * The names a request message says its sender is, for the roles that must speak for
 * themselves. Each must equal the caller's certificate name.
 */
const SPEAKS_FOR: Readonly<Record<string, { roles: readonly Role[]; names(m: Msg): Array<string | undefined> }>> = {
  [`${REPLICATION}Stream`]: {
    roles: ['store'],
    names: (m) => {
      const out = [field(m?.hello as Msg, 'from')];
      for (const w of (m?.messages as Msg[] | undefined) ?? []) out.push(field((w?.[w?.kind as string] as Msg), 'from'));
      return out;
    },
  },
  [`${REPLICATION}Snapshot`]: { roles: ['store'], names: (m) => [field(m, 'from')] },
  // a coordinator forwards a store's report with the store's name in it
  [`${TOPOLOGY}ReportMasterLost`]: { roles: ['store'], names: (m) => [field(m, 'reporter')] },
};

/** Why a call from `peer` to `method` is refused, or null when it may go on. */
export function checkCall(method: string, peer: Identity | string, admit?: Admit): string | null {
  const roles = RPC_ROLES[method];
  if (!roles) return `${method} is not callable on this service`;
  if (typeof peer === 'string') return `${method} needs a client certificate with the role ${roles.join(' or ')}: ${peer}`;
  if (!roles.includes(peer.role)) {
    return `${method} needs the role ${roles.join(' or ')}; the caller ${peer.name} has the role ${peer.role}`;
  }
  return admit?.(method, peer) ?? null;
}

/** Why a message of an admitted call is refused (it speaks for another name), or null. */
export function checkMessage(method: string, peer: Identity, message: unknown): string | null {
  const rule = SPEAKS_FOR[method];
  if (!rule || !rule.roles.includes(peer.role)) return null;
  for (const n of rule.names(message as Msg)) {
    if (n !== undefined && n !== peer.name) return `${method}: the ${peer.role} ${peer.name} may only speak for itself, not for '${n}'`;
  }
  return null;
}

/** A server's extra check of an admitted role (e.g. "is this store a member of my group?"): a reason to refuse, or null. */
export type Admit = (method: string, peer: Identity) => string | null;

/** The log call of a refusal (pino's signature). */
export interface DenyLog { warn(obj: object, msg: string): void }

export interface RoleCheckOptions {
  /** Where `hawser_rpc_denied_total` lives (the service's registry). */
  registry?: Registry;
  log?: DenyLog;
  admit?: Admit;
}

const counters = new WeakMap<Registry, Counter<'method' | 'role'>>();

function deniedCounter(registry: Registry | undefined): Counter<'method' | 'role'> | undefined {
  if (!registry) return undefined;
  let c = counters.get(registry);
  if (!c) {
    c = new PromCounter({
      name: 'hawser_rpc_denied_total',
      help: 'gRPC calls refused with PERMISSION_DENIED (no or wrong client certificate role, not a group member, speaking for another name), by method and caller role ("none": no certificate)',
      labelNames: ['method', 'role'] as const,
      registers: [registry],
    });
    counters.set(registry, c);
  }
  return c;
}

/** The verified identity of a call's peer, or why it has none. */
export function peerIdentity(auth: ReturnType<grpc.ServerInterceptingCallInterface['getAuthContext']> | null | undefined): Identity | string {
  const cert = auth?.sslPeerCertificate;
  if (!cert) return 'the caller presented no verified client certificate';
  return identityFromSubject(cert.subject as unknown as Record<string, string | string[]>);
}

/** The interceptor that enforces RPC_ROLES (and the server's `admit`). */
export function roleInterceptor(o: RoleCheckOptions = {}): grpc.ServerInterceptor {
  const denied = deniedCounter(o.registry);
  const lastWarn = new Map<string, number>();
  const refuse = (call: grpc.ServerInterceptingCallInterface, method: string, peer: Identity | string, why: string) => {
    const role = typeof peer === 'string' ? 'none' : peer.role;
    const short = method.slice(method.lastIndexOf('.') + 1);
    denied?.inc({ method: short, role });
    const key = `${short} ${role}`;
    const now = Date.now();
    if (o.log && now - (lastWarn.get(key) ?? 0) >= 10_000) {
      lastWarn.set(key, now);
      o.log.warn({ method: short, role, peer: call.getPeer(), why }, 'gRPC call refused (PERMISSION_DENIED)');
    }
    call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: why, metadata: new grpc.Metadata() });
  };
  return (descriptor, call) => {
    const method = descriptor.path;
    let peer: Identity | string = '';
    let closed = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            peer = peerIdentity(call.getAuthContext());
            const why = checkCall(method, peer, o.admit);
            if (why) { closed = true; refuse(call, method, peer, why); return; }
            mdNext(metadata);
          },
          onReceiveMessage: (message, msgNext) => {
            if (closed) return;
            const why = typeof peer === 'string' ? null : checkMessage(method, peer, message);
            if (why) { closed = true; refuse(call, method, peer, why); return; }
            msgNext(message);
          },
          onReceiveHalfClose: (hcNext) => { if (!closed) hcNext(); },
        });
      },
    });
  };
}

/**
 * Options for a gRPC server of this process: `base` plus, when the process has a TLS
 * identity, the role check. Without TLS nothing is checked (there is no identity to check).
 */
export function secureServerOptions(base: grpc.ServerOptions, o: RoleCheckOptions = {}): grpc.ServerOptions {
  if (!processTls()) return base;
  return { ...base, interceptors: [...(base.interceptors ?? []), roleInterceptor(o)] };
}
