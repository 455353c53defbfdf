// A client's byte pipe, whatever carries it (TCP, TLS, WebSocket), and what a protocol
// adapter gives back to receive its bytes. Protocol adapters see only these two.
import type { Protocol } from '../metrics';

/**
 * The certificate a TLS client presented (ssl.requestCert or ssl.requireClientCert), as
 * read from the handshake. Authentication maps it to a user; see `TlsInfo.peer`.
 */
export interface PeerCertificate {
  /**
   * The chain verified against ssl.ca (and was valid at the handshake). ALWAYS check it:
   * with ssl.requestCert alone, a client may present a self-made certificate and still
   * connect (authorized false, the reason in `authorizationError`). With
   * ssl.requireClientCert an unverified certificate never gets this far.
   */
  readonly authorized: boolean;
  /** Why `authorized` is false (OpenSSL's code, e.g. 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED'). */
  readonly authorizationError?: string;
  /** The subject's common name (CN), '' when it has none: the natural user name. */
  readonly subject: string;
  /** The whole subject, most specific first (RFC 4514 order): 'CN=alice,OU=ops,O=acme'. */
  readonly subjectDn: string;
  /** The issuer's common name (which CA signed it). */
  readonly issuer: string;
  /** SHA-256 of the DER certificate, upper-case hex pairs joined by ':' (what `openssl x509 -fingerprint -sha256` prints). */
  readonly fingerprint256: string;
  /** Serial number, upper-case hex. */
  readonly serialNumber: string;
  /** End of validity, as the certificate says it ('Dec  6 14:51:13 2027 GMT'). */
  readonly validTo: string;
}

/** What a TLS transport knows of its handshake (stomp+ssl and wss listeners). */
export interface TlsInfo {
  /** Negotiated TLS version, e.g. 'TLSv1.3'. */
  readonly version: string;
  /** Negotiated cipher suite name, e.g. 'TLS_AES_256_GCM_SHA384'. */
  readonly cipher: string;
  /** The client's certificate, when it presented one (only asked for with ssl.requestCert / ssl.requireClientCert). */
  readonly peer?: PeerCertificate;
}

/** A client's byte pipe. TCP and TLS sockets and WebSockets (ws, wss) implement it in listeners.ts. */
export interface Transport {
  /** Which listener accepted it: 'stomp' (TCP), 'stomp+ssl' (TLS), 'ws' or 'wss'. */
  readonly protocol: Protocol;
  readonly remote: string;
  /**
   * Set on transports that arrived over TLS (protocol 'stomp+ssl' or 'wss'), undefined on
   * plaintext ones. Authentication reads `tls?.peer`: a client certificate identifies its
   * user only when `tls.peer.authorized` is true; `tls.peer.subject` is the CN, and
   * `tls.peer.fingerprint256` pins one certificate.
   */
  readonly tls?: TlsInfo;
  /** Bytes queued for the client and not yet handed to the kernel. */
  readonly buffered: number;
  /** `done` runs once the bytes are written out (or with an error when they never will be). */
  write(data: Buffer, done?: (err?: Error) => void): void;
  pauseReading(): void;
  resumeReading(): void;
  /** Flush what was written, then close. */
  end(): void;
  /** Close now, dropping anything unsent. */
  destroy(): void;
}

/** What a transport hands its bytes and its close to (a protocol connection). */
export interface TransportSink {
  receive(chunk: Buffer): void;
  /** The transport flushed its queue. */
  drained(): void;
  transportClosed(): void;
}
