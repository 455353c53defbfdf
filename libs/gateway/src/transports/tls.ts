// TLS for the client listeners (stomp+ssl and wss): the certificate files of config ssl.*,
// checked once at start (a ConfigError naming the key), reloaded when they change (new
// connections get the new certificate, open ones keep theirs), and what a handshake tells
// about the client (Transport.tls).
import { readFileSync, watchFile, unwatchFile, type Stats } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type TlsOptions, type TLSSocket, type Server as TlsServer, type DetailedPeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { ConfigError } from '@hawser/config';
import type { Logger } from '@hawser/observability';
import type { Config } from '../config';
import type { PeerCertificate, TlsInfo } from './transport';

type SslConfig = Config['ssl'];

/** The TLS listeners are on: a certificate is configured (ssl.cert). */
export function tlsConfigured(ssl: SslConfig): boolean {
  return ssl.cert !== '';
}

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(key, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (give the path of a PEM file readable by this process)`, { cause: e });
  }
}

/**
 * Reads ssl.cert, ssl.key and ssl.ca and checks that they make a usable server context
 * (PEM that parses, a key that matches the certificate). Throws a ConfigError naming the key.
 */
export function loadSecureContextOptions(ssl: SslConfig): SecureContextOptions {
  if (!ssl.cert) throw new ConfigError('ssl.cert', 'not set (the PEM file of the server certificate)');
  if (!ssl.key) throw new ConfigError('ssl.key', `not set: ssl.cert (${ssl.cert}) needs the PEM file of its private key`);
  if ((ssl.requestCert || ssl.requireClientCert) && !ssl.ca) {
    throw new ConfigError('ssl.ca', `not set: ${ssl.requireClientCert ? 'ssl.requireClientCert' : 'ssl.requestCert'} verifies client certificates against it (the PEM file of the CA that signs them)`);
  }
  const options: SecureContextOptions = {
    cert: readPem('ssl.cert', ssl.cert),
    key: readPem('ssl.key', ssl.key),
    ...(ssl.ca ? { ca: readPem('ssl.ca', ssl.ca) } : {}),
  };
  // One part at a time, so the error names the key that is wrong.
  const hint = '(ssl.cert: PEM certificate chain, ssl.key: its unencrypted PEM private key, ssl.ca: PEM CA certificates)';
  try {
    createSecureContext({ cert: options.cert });
  } catch (e) {
    throw new ConfigError('ssl.cert', `${ssl.cert} is not a usable certificate: ${(e as Error).message} ${hint}`, { cause: e });
  }
  try {
    createSecureContext({ cert: options.cert, key: options.key });
  } catch (e) {
    throw new ConfigError('ssl.key', `${ssl.key} is not the private key of ${ssl.cert}: ${(e as Error).message} ${hint}`, { cause: e });
  }
  if (options.ca) {
    // OpenSSL skips what it cannot parse in a CA list without a word: check it ourselves.
    try {
      new X509Certificate(options.ca as Buffer);
    } catch (e) {
      throw new ConfigError('ssl.ca', `${ssl.ca} holds no PEM certificate: ${(e as Error).message} ${hint}`, { cause: e });
    }
  }
  return options;
}

/** Server options for tls.createServer / https.createServer from checked context options. */
export function serverOptions(ssl: SslConfig, context: SecureContextOptions): TlsOptions {
  return {
    ...context,
    minVersion: 'TLSv1.2',
    // requireClientCert: the handshake itself refuses a client without a certificate that
    // verifies against ssl.ca. requestCert alone: asked for, reported, not enforced.
    requestCert: ssl.requestCert || ssl.requireClientCert,
    rejectUnauthorized: ssl.requireClientCert,
  };
}

/**
 * Watches ssl.cert, ssl.key and ssl.ca (stat polling, which also sees a file replaced by a
 * rename, the way certificate tools write them) and, once they have been quiet for a
 * moment, gives every TLS server the new context. A set of files that does not load
 * (a half-written key, a mismatched pair) is logged and counted; the servers keep the
 * previous context and the next change is tried again.
 */
export class CertificateReloader {
  private readonly servers: TlsServer[] = [];
  private readonly files: string[];
  private timer: NodeJS.Timeout | undefined;
  private readonly onChange = (cur: Stats, prev: Stats): void => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    // Tools write cert and key one after the other: wait until they have settled.
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), this.settleMs);
    this.timer.unref();
  };

  constructor(
    private readonly ssl: SslConfig,
    private readonly log: Logger,
    private readonly counted: (result: 'ok' | 'failed') => void,
    private readonly pollMs = 2_000,
    private readonly settleMs = 300,
  ) {
    this.files = [ssl.cert, ssl.key, ssl.ca].filter((f) => f !== '');
  }

  add(server: TlsServer): void { this.servers.push(server); }

  start(): this {
    for (const f of this.files) watchFile(f, { interval: this.pollMs, persistent: false }, this.onChange);
    return this;
  }

  /** Re-reads the files now; true when the servers took them. */
  reload(): boolean {
    let context: SecureContextOptions;
    try {
      context = loadSecureContextOptions(this.ssl);
    } catch (e) {
      this.counted('failed');
      this.log.warn({ err: (e as Error).message }, 'TLS certificate reload failed; still serving the previous certificate');
      return false;
    }
    for (const s of this.servers) s.setSecureContext(context);
    this.counted('ok');
    this.log.info({ cert: this.ssl.cert, servers: this.servers.length }, 'TLS certificate reloaded');
    return true;
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const f of this.files) unwatchFile(f, this.onChange);
  }
}

/** The Common Name of a subject or issuer ('' when none; the first when several). */
function commonName(name: Record<string, string | string[]> | undefined): string {
  const cn = name?.CN;
  return (Array.isArray(cn) ? cn[0] : cn) ?? '';
}

/** RFC 4514: most specific first, special characters escaped. */
function distinguishedName(name: Record<string, string | string[]> | undefined): string {
  if (!name) return '';
  const esc = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name)) for (const x of Array.isArray(v) ? v : [v]) parts.push(`${k}=${esc(x)}`);
  return parts.reverse().join(',');
}

/** What the handshake of an accepted TLS socket says (Transport.tls). */
export function tlsInfoOf(socket: TLSSocket): TlsInfo {
  const cipher = socket.getCipher();
  const cert = socket.getPeerCertificate(false) as DetailedPeerCertificate | Record<string, never>;
  let peer: PeerCertificate | undefined;
  if (cert && 'raw' in cert && cert.raw) {
    const subject = cert.subject as unknown as Record<string, string | string[]> | undefined;
    const authorizationError = socket.authorizationError ? String(socket.authorizationError) : undefined;
    peer = {
      authorized: socket.authorized,
      ...(authorizationError ? { authorizationError } : {}),
      subject: commonName(subject),
      subjectDn: distinguishedName(subject),
      issuer: commonName(cert.issuer as unknown as Record<string, string | string[]> | undefined),
      fingerprint256: cert.fingerprint256,
      serialNumber: cert.serialNumber.toUpperCase(),
      validTo: cert.valid_to,
    };
  }
  return { version: socket.getProtocol() ?? '', cipher: cipher?.name ?? '', ...(peer ? { peer } : {}) };
}
