// Broker URIs. One endpoint per URI today; `parseTarget` returns a list so that the
// `failover:(uri1,uri2)?opts` syntax (ActiveMQ's failover transport, a later milestone)
// can slot in here without changing connect(): it will return several endpoints plus the
// reconnect options, and connect() will dial them in turn.
import { InvalidUriError } from './errors';

export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss';

export interface Endpoint {
  transport: TransportKind;
  host: string;
  port: number;
  /** WebSocket path (with query), '/' by default. Unused for TCP. */
  path: string;
  /** The URI this endpoint came from, for error messages. */
  uri: string;
}

export interface ConnectTarget {
  endpoints: Endpoint[];
}

// ActiveMQ's default ports: STOMP 61613, STOMP over WebSocket 61614.
const SCHEMES: Record<string, { transport: TransportKind; port: number }> = {
  'stomp:': { transport: 'tcp', port: 61613 },
  'tcp:': { transport: 'tcp', port: 61613 },
  'stomp+ssl:': { transport: 'tls', port: 61612 },
  'ssl:': { transport: 'tls', port: 61612 },
  'ws:': { transport: 'ws', port: 61614 },
  'wss:': { transport: 'wss', port: 61614 },
};

/** Parses one broker URI: stomp://host:port, tcp://, stomp+ssl://, ssl://, ws://host:port/path, wss://. */
export function parseEndpoint(uri: string): Endpoint {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err) {
    throw new InvalidUriError(`not a broker URI: '${uri}' (expected e.g. stomp://127.0.0.1:61613 or ws://127.0.0.1:61614)`);
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme) {
    throw new InvalidUriError(`unsupported scheme '${url.protocol}' in '${uri}' (use one of ${Object.keys(SCHEMES).map((s) => s + '//').join(', ')})`);
  }
  if (!url.hostname) throw new InvalidUriError(`no host in '${uri}'`);
  const port = url.port ? Number(url.port) : scheme.port;
  // URL keeps IPv6 literals bracketed; net.connect wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { transport: scheme.transport, host, port, path: (url.pathname || '/') + url.search, uri };
}

/** Parses what connect() accepts. Today: a single URI. */
export function parseTarget(uri: string): ConnectTarget {
  const trimmed = uri.trim();
  if (/^failover:/i.test(trimmed)) {
    throw new InvalidUriError(`failover URIs are not supported yet: '${uri}' (connect to one broker URI)`);
  }
  return { endpoints: [parseEndpoint(trimmed)] };
}
