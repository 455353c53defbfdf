// Mutual TLS between Hawser's services: the one place that turns a service's `tls` section
// (tls.ca, tls.cert, tls.key: PEM files) into gRPC credentials, and that says who this process
// is. A certificate names its service's role in the subject's OU and its name in the CN
// (`hawser certs` makes them: OU=store, CN=<node id>); the server side reads the verified peer
// certificate of every call (rpc-roles.ts) to decide what it may call.
//
// A process has one identity: its main calls `useTls(loadTls(config.tls))` once, and every gRPC
// client and server of the process takes its credentials from `channelCredentials()` and
// `serverCredentials()`. Without tls.* both stay insecure (tests, `npm start` without --secure)
// and a server bound to a non-loopback address says so once.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ConfigError, str } from '@hawser/config';

/** The roles a service certificate can name (subject OU). */
export const ROLES = ['store', 'coordinator', 'gateway', 'bridge', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who a certificate says its holder is. */
export interface Identity { role: Role; name: string }

/** A service's `tls` section: three PEM file paths, all set or none. */
export interface TlsFiles { ca: string; cert: string; key: string }

/** The `tls` section every service's schema includes (same keys and docs everywhere). */
export const tlsSchema = {
  ca: str('', 'PEM file of the CA that signs every Hawser service certificate; peers must present a certificate it signed (empty with cert/key: insecure gRPC)'),
  cert: str('', 'PEM file of this service\'s certificate (subject OU = its role: store, coordinator, gateway, bridge or admin; CN = its name); `hawser certs` makes them'),
  key: str('', 'PEM file of the private key of tls.cert'),
};

/** The parsed identity of a PEM certificate, or a reason it has none. */
export function identityOf(cert: X509Certificate | Buffer | string): Identity | string {
  const x = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return identityFromSubject(parseSubject(x.subject));
}

/** tls.PeerCertificate's subject (OU/CN may be repeated: then they are arrays). */
export function identityFromSubject(subject: Record<string, string | string[] | undefined> | undefined): Identity | string {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v);
  const role = one(subject?.OU);
  const name = one(subject?.CN);
  if (!role) return 'the certificate names no role (subject OU must be exactly one of store, coordinator, gateway, bridge, admin)';
  if (!(ROLES as readonly string[]).includes(role)) return `the certificate's role '${role}' is none of ${ROLES.join(', ')}`;
  if (!name) return 'the certificate names no service (subject CN)';
  return { role: role as Role, name };
}

/** "C=..\nOU=store\nCN=s1" (X509Certificate.subject) -> { OU: 'store', CN: 's1' } */
function parseSubject(subject: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** This process's certificate, key and CA, checked once at start. */
export class ServiceTls {
  private serverCreds: grpc.ServerCredentials | undefined;
  private channelCreds: grpc.ChannelCredentials | undefined;

  constructor(readonly ca: Buffer, readonly cert: Buffer, readonly key: Buffer, readonly identity: Identity, readonly files: TlsFiles) {}

  /** Server side: presents our certificate, requires and verifies the client's (mutual TLS). */
  server(): grpc.ServerCredentials {
    this.serverCreds ??= grpc.ServerCredentials.createSsl(this.ca, [{ cert_chain: this.cert, private_key: this.key }], true);
    return this.serverCreds;
  }

  /** Client side: verifies the server against the CA and presents our certificate. */
  channel(): grpc.ChannelCredentials {
    this.channelCreds ??= grpc.credentials.createSsl(this.ca, this.key, this.cert);
    return this.channelCreds;
  }
}

/**
 * Reads and checks a `tls` section: none of the three set -> null (insecure); some but not
 * all, an unreadable file, a certificate without a role, a key that is not the certificate's,
 * a certificate the CA did not sign or one out of its validity -> ConfigError naming the key.
 * `prefix` is the section's path in the service's config ('tls', or 'gateway.tls'...).
 */
export function loadTls(tls: TlsFiles, prefix = 'tls', now = new Date()): ServiceTls | null {
  const set = (['ca', 'cert', 'key'] as const).filter((k) => tls[k]);
  if (set.length === 0) return null;
  if (set.length < 3) {
    const missing = (['ca', 'cert', 'key'] as const).filter((k) => !tls[k]).map((k) => `${prefix}.${k}`);
    throw new ConfigError(missing[0]!, `mutual TLS needs ${prefix}.ca, ${prefix}.cert and ${prefix}.key together; ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing (give all three, or none for insecure gRPC)`);
  }
  const read = (k: 'ca' | 'cert' | 'key') => {
    try {
      return readFileSync(tls[k]);
    } catch (e) {
      throw new ConfigError(`${prefix}.${k}`, `cannot read ${tls[k]}: ${(e as Error).message}`, { cause: e });
    }
  };
  const ca = read('ca');
  const cert = read('cert');
  const key = read('key');
  const parse = (k: 'ca' | 'cert', pem: Buffer) => {
    try {
      return new X509Certificate(pem);
    } catch (e) {
      throw new ConfigError(`${prefix}.${k}`, `${tls[k]} is not a PEM certificate: ${(e as Error).message}`, { cause: e });
    }
  };
  const caX = parse('ca', ca);
  const certX = parse('cert', cert);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new ConfigError(`${prefix}.key`, `${tls.key} is not a PEM private key: ${(e as Error).message}`, { cause: e });
  }
  if (!certX.checkPrivateKey(privateKey)) throw new ConfigError(`${prefix}.key`, `${tls.key} is not the private key of ${tls.cert}`);
  if (!certX.verify(caX.publicKey)) throw new ConfigError(`${prefix}.cert`, `${tls.cert} is not signed by the CA in ${tls.ca}`);
  if (now < new Date(certX.validFrom) || now > new Date(certX.validTo)) {
    throw new ConfigError(`${prefix}.cert`, `${tls.cert} is valid from ${certX.validFrom} to ${certX.validTo}, not now: make a new one (hawser certs)`);
  }
  const identity = identityOf(certX);
  if (typeof identity === 'string') throw new ConfigError(`${prefix}.cert`, `${tls.cert}: ${identity}`);
  return new ServiceTls(ca, cert, key, identity, { ...tls });
}

// ---- this process's identity ----------------------------------------------------------------

let current: ServiceTls | null = null;
const warnedHosts = new Set<string>();

/** Sets this process's TLS identity (null: insecure). Called once by a service's main. */
export function useTls(tls: ServiceTls | null): void { current = tls; }

/** This process's TLS identity, or null when it talks insecure gRPC. */
export function processTls(): ServiceTls | null { return current; }

/** Credentials of every gRPC client of this process. */
export function channelCredentials(): grpc.ChannelCredentials {
  return current ? current.channel() : grpc.credentials.createInsecure();
}

/** The log call serverCredentials makes (pino's signature). */
export interface TlsLog { warn(obj: object, msg: string): void }

/**
 * Credentials of a gRPC server of this process bound to `host`. Insecure on an address other
 * processes can reach: warns once (per host) through `log`.
 */
export function serverCredentials(host: string, log?: TlsLog): grpc.ServerCredentials {
  if (current) return current.server();
  if (log && !isLoopback(host) && !warnedHosts.has(host)) {
    warnedHosts.add(host);
    log.warn({ host }, `gRPC on ${host} is insecure: any process that reaches it may call every RPC (set tls.ca, tls.cert and tls.key; see docs/security.md)`);
  }
  return grpc.ServerCredentials.createInsecure();
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}
