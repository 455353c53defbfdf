// Broker URIs: one endpoint (stomp://, tcp://, stomp+ssl://, ssl://, ws://, wss://), or
// ActiveMQ's failover:(uri1,uri2)?options with its option names, defaults and meanings.
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
  /** TLS options from the URI's query (stomp+ssl://, ssl://, wss:// only); absent when it has none. */
  tls?: EndpointTls;
}

/**
 * TLS options a broker URI may carry, e.g. `ssl://gw:61612?ca=/etc/hawser/ca.pem` or
 * `wss://gw:61615/?ca=ca.pem&cert=alice.pem&key=alice.key`. File names, read when dialing;
 * ConnectOptions.tls gives the same in code (the URI's win).
 */
export interface EndpointTls {
  /** `ca` (alias `trustStore`): PEM file of the CA(s) to trust instead of the system's. */
  ca?: string;
  /** `cert`: PEM file of a client certificate (for a gateway with ssl.requestCert / ssl.requireClientCert). */
  cert?: string;
  /** `key`: PEM file of the client certificate's private key. */
  key?: string;
  /** `servername`: the name to verify the server's certificate against (and send as SNI) instead of the URI's host. */
  servername?: string;
  /** `verifyHostName=false` (ActiveMQ's socket.verifyHostName): trust the CA but not check the name. */
  verifyHostName?: boolean;
}

/** URI query names of EndpointTls (ActiveMQ spells some with a `socket.` prefix: accepted too). */
const TLS_OPTIONS: Record<string, keyof EndpointTls> = {
  ca: 'ca',
  trustStore: 'ca',
  cert: 'cert',
  key: 'key',
  servername: 'servername',
  verifyHostName: 'verifyHostName',
  'socket.verifyHostName': 'verifyHostName',
};

/** Takes the TLS options out of a URI's query; returns them and the rest of the query. */
function takeTlsOptions(url: URL, transport: TransportKind, uri: string): { tls?: EndpointTls; search: string } {
  const tls: EndpointTls = {};
  const rest = new URLSearchParams();
  let found = false;
  for (const [name, value] of url.searchParams) {
    const key = TLS_OPTIONS[name];
    if (!key) { rest.append(name, value); continue; }
    if (transport !== 'tls' && transport !== 'wss') {
      throw new InvalidUriError(`option ${name} in '${uri}' is a TLS option: use stomp+ssl://, ssl:// or wss://`);
    }
    if (key === 'verifyHostName') {
      if (value !== 'true' && value !== 'false') throw new InvalidUriError(`option ${name} must be true or false, got '${value}' in '${uri}'`);
      tls.verifyHostName = value === 'true';
    } else {
      if (!value) throw new InvalidUriError(`option ${name} in '${uri}' needs a value (${key === 'servername' ? 'a host name' : 'a PEM file path'})`);
      tls[key] = value;
    }
    found = true;
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new InvalidUriError(`'${uri}' has ${tls.cert ? 'cert without key' : 'key without cert'}: a client certificate needs both`);
  }
  if (!found) return { search: url.search };
  const search = rest.toString();
  return { tls, search: search ? `?${search}` : '' };
}

export interface ConnectTarget {
  endpoints: Endpoint[];
  /** Set for failover: URIs (reconnect on its own, ActiveMQ's failover transport). */
  failover?: FailoverOptions;
}

// ActiveMQ's default ports: STOMP 61613, STOMP over TLS 61612, STOMP over WebSocket 61614;
// secure WebSocket has no ActiveMQ default: the gateway's (wss.port) is 61615.
const SCHEMES: Record<string, { transport: TransportKind; port: number }> = {
  'stomp:': { transport: 'tcp', port: 61613 },
  'tcp:': { transport: 'tcp', port: 61613 },
  'stomp+ssl:': { transport: 'tls', port: 61612 },
  'ssl:': { transport: 'tls', port: 61612 },
  'ws:': { transport: 'ws', port: 61614 },
  'wss:': { transport: 'wss', port: 61615 },
};

/**
 * Parses one broker URI: stomp://host:port, tcp://, stomp+ssl://, ssl://, ws://host:port/path,
 * wss://. TLS ones may carry EndpointTls options in their query (?ca=ca.pem).
 */
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
  const { tls, search } = url.search ? takeTlsOptions(url, scheme.transport, uri) : { tls: undefined, search: '' };
  return { transport: scheme.transport, host, port, path: (url.pathname || '/') + search, uri, ...(tls ? { tls } : {}) };
}

/**
 * ActiveMQ's failover transport options (Failover Transport Reference), with ActiveMQ's
 * defaults (5.6 and later). Times in ms.
 */
export interface FailoverOptions {
  /** Pick the URIs in random order (load spreading); false: left to right. */
  randomize: boolean;
  /** Delay before the first reconnect attempt after a failed pass over the URIs. */
  initialReconnectDelay: number;
  /** The longest delay between passes. */
  maxReconnectDelay: number;
  /** Multiply the delay by backOffMultiplier after every failed pass. */
  useExponentialBackOff: boolean;
  /** Alias: reconnectDelayExponent. */
  backOffMultiplier: number;
  /** -1: retry for ever; 0: never reconnect (one pass); N: N more passes after the first fails, then give up. */
  maxReconnectAttempts: number;
  /** Same, for the first connection only; -1: use maxReconnectAttempts. */
  startupMaxReconnectAttempts: number;
  /** Longest a send (or subscribe) waits while disconnected before it fails; -1: no limit. */
  timeout: number;
  /** Prefer the priority URI(s): reconnect to them first, and move back to them when they return. */
  priorityBackup: boolean;
  /** The priority URIs for priorityBackup (default: the first URI). */
  priorityURIs: string[];
}

export const FAILOVER_DEFAULTS: Readonly<FailoverOptions> = Object.freeze({
  randomize: true,
  initialReconnectDelay: 10,
  maxReconnectDelay: 30_000,
  useExponentialBackOff: true,
  backOffMultiplier: 2,
  maxReconnectAttempts: -1,
  startupMaxReconnectAttempts: -1,
  timeout: -1,
  priorityBackup: false,
  priorityURIs: [] as string[],
});

type OptionParser = (value: string, name: string, uri: string) => unknown;

const bool: OptionParser = (v, name, uri) => {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidUriError(`failover option ${name} must be true or false, got '${v}' in '${uri}'`);
};
const int = (min: number): OptionParser => (v, name, uri) => {
  const n = /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InvalidUriError(`failover option ${name} must be an integer >= ${min}, got '${v}' in '${uri}'`);
  }
  return n;
};
const multiplier: OptionParser = (v, name, uri) => {
  const n = /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 1) throw new InvalidUriError(`failover option ${name} must be a number >= 1, got '${v}' in '${uri}'`);
  return n;
};

const OPTIONS: Record<string, { key: keyof FailoverOptions; parse: OptionParser }> = {
  randomize: { key: 'randomize', parse: bool },
  initialReconnectDelay: { key: 'initialReconnectDelay', parse: int(0) },
  maxReconnectDelay: { key: 'maxReconnectDelay', parse: int(0) },
  useExponentialBackOff: { key: 'useExponentialBackOff', parse: bool },
  backOffMultiplier: { key: 'backOffMultiplier', parse: multiplier },
  reconnectDelayExponent: { key: 'backOffMultiplier', parse: multiplier },
  maxReconnectAttempts: { key: 'maxReconnectAttempts', parse: int(-1) },
  startupMaxReconnectAttempts: { key: 'startupMaxReconnectAttempts', parse: int(-1) },
  timeout: { key: 'timeout', parse: int(-1) },
  priorityBackup: { key: 'priorityBackup', parse: bool },
  priorityURIs: { key: 'priorityURIs', parse: (v) => v.split(',').map((x) => x.trim()).filter(Boolean) },
};

/** Splits on commas outside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim());
}

function parseFailoverOptions(query: string, uri: string): FailoverOptions {
  const opts: FailoverOptions = { ...FAILOVER_DEFAULTS, priorityURIs: [] };
  if (!query) return opts;
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = decodeURIComponent(eq < 0 ? '' : pair.slice(eq + 1));
    const def = OPTIONS[name];
    if (!def) {
      throw new InvalidUriError(`unknown failover option '${name}' in '${uri}' (supported: ${Object.keys(OPTIONS).join(', ')})`);
    }
    (opts as unknown as Record<string, unknown>)[def.key] = def.parse(value, name, uri);
  }
  if (opts.maxReconnectDelay < opts.initialReconnectDelay) {
    throw new InvalidUriError(`failover option maxReconnectDelay (${opts.maxReconnectDelay}) is below initialReconnectDelay (${opts.initialReconnectDelay}) in '${uri}'`);
  }
  return opts;
}

/**
 * Parses ActiveMQ's failover URI: `failover:(uri1,...,uriN)?options` or `failover:uri1,...,uriN`
 * (also `failover://(...)`). Without parentheses a trailing `?query` is taken as failover
 * options only when every key is a failover option; otherwise it belongs to the last URI.
 */
export function parseFailover(uri: string): { endpoints: Endpoint[]; failover: FailoverOptions } {
  let rest = uri.trim().replace(/^failover:/i, '').replace(/^\/\//, '');
  let query = '';
  let list: string[];
  if (rest.startsWith('(')) {
    const close = rest.lastIndexOf(')');
    if (close < 0) throw new InvalidUriError(`unbalanced parentheses in '${uri}' (expected failover:(uri1,uri2)?options)`);
    const after = rest.slice(close + 1);
    if (after && !after.startsWith('?')) throw new InvalidUriError(`unexpected '${after}' after ')' in '${uri}' (options go after '?')`);
    query = after.slice(1);
    list = splitTop(rest.slice(1, close));
  } else {
    const q = rest.lastIndexOf('?');
    if (q >= 0) {
      const keys = rest.slice(q + 1).split('&').filter(Boolean).map((p) => decodeURIComponent(p.split('=')[0]!));
      if (keys.length && keys.every((k) => k in OPTIONS)) {
        query = rest.slice(q + 1);
        rest = rest.slice(0, q);
      }
    }
    list = splitTop(rest);
  }
  list = list.filter((x) => x.length > 0);
  if (list.length === 0) throw new InvalidUriError(`no broker URIs in '${uri}' (expected failover:(stomp://h1:61613,stomp://h2:61613))`);
  const endpoints = list.map((u) => {
    if (/^failover:/i.test(u)) throw new InvalidUriError(`nested failover URI '${u}' in '${uri}'`);
    return parseEndpoint(u);
  });
  const failover = parseFailoverOptions(query, uri);
  for (const p of failover.priorityURIs) {
    if (!endpoints.some((e) => e.uri === p)) throw new InvalidUriError(`failover option priorityURIs names '${p}', which is not in the list of '${uri}'`);
  }
  return { endpoints, failover };
}

/** Parses what connect() accepts: one broker URI, or a failover URI. */
export function parseTarget(uri: string): ConnectTarget {
  const trimmed = uri.trim();
  if (/^failover:/i.test(trimmed)) return parseFailover(trimmed);
  return { endpoints: [parseEndpoint(trimmed)] };
}
