// The gateway: listeners + one StompConnection or MqttConnection per client + the shared gRPC
// channel to the store + the metrics/health endpoint. main.ts runs it as a service; tests run it in-process.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeFrame, frame } from '@hawser/stomp';
import { createLogger, createRegistry, startHttpEndpoint, warnEvery, type Logger, type HttpEndpoint, prom } from '@hawser/observability';
import { ConfigError } from '@hawser/config';
import { Authenticator, UsersFiles, UsersFileError } from '@hawser/security';
import type { Config } from './config';
import { GatewayMetrics, isMqtt } from './metrics';
import { StompConnection, type GatewayContext } from './protocols/stomp/connection';
import { MqttConnection, type MqttContext } from './protocols/mqtt/connection';
import type { Transport } from './transports/transport';
import { startListeners, type ClientListeners, type TransportSink } from './transports/listeners';
import { Channels } from './session/channels';
import type { LocalBroker } from './session/local-channel';
import { StaticMaster, TopologyFollower, type MasterSource } from './session/masters';
import { GatewayRegistration } from './registration';
import { GatewayError } from './errors';

export interface GatewayOptions {
  log?: Logger;
  registry?: prom.Registry;
  /**
   * Home 2, the gateway embedded in a store node: the node's broker core. Sessions whose
   * master is this node (config.store.address, or the topology naming local.address) run
   * in-process; the others go over gRPC as in the separate gateway.
   */
  local?: LocalBroker;
  /** Serve /metrics /healthz /readyz on config.http (default true; the store node serves its own). */
  serveHttp?: boolean;
  /** The store node hosting this gateway (its registration names it). */
  node?: string;
  /** With serveHttp false: the HTTP port that serves this gateway's metrics (the node's), for its registration. */
  metricsPort?: number;
  /** How often the TLS certificate files are checked for a change (default 2000 ms; tests shorten it). */
  certPollMs?: number;
}

/** A running gateway: its listeners' ports (0 when a listener is off; ClientListeners) and the rest. */
export interface Gateway extends Omit<ClientListeners, 'close'> {
  httpPort: number;
  registry: prom.Registry;
  /** Where the group master comes from (tests look at it). */
  source: MasterSource;
  /** The ZooKeeper registration, when zk.address is set. */
  registration: GatewayRegistration | undefined;
  /** Open client connections. */
  readonly connectionCount: number;
  /** Ready: accepting, and the way to the master is not known to be failing. */
  readonly ready: boolean;
  /** Stops listening, sends ERROR "server shutting down" to every client, ends their streams. */
  stop(): Promise<void>;
}

function hawserVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Who may connect (auth.*): users from files, anonymous only when configured. Refuses a
 * configuration where nobody could connect, and anonymous clients on a plaintext listener
 * reachable from the network unless auth.allowInsecureNetwork says so.
 */
function makeAuthenticator(config: Config, log: Logger): Authenticator {
  const a = config.auth;
  if (!a.usersFile && !a.anonymous) {
    throw new ConfigError('auth.anonymous', 'nobody could connect: set auth.usersFile (users with hashed passwords, see `hawser passwd`) or auth.anonymous=true');
  }
  if (a.groupsFile && !a.usersFile) throw new ConfigError('auth.groupsFile', 'groups without users: set auth.usersFile too');
  if (a.anonymous && !a.allowInsecureNetwork) {
    const open = [['stomp', config.stomp], ['ws', config.ws], ['mqtt', config.mqtt]] as const;
    for (const [name, l] of open) {
      if (l.enabled !== false && !LOOPBACK.test(l.host)) {
        throw new ConfigError(`${name}.host`, `anonymous clients on a plaintext listener at ${l.host} (not loopback): anyone who reaches it could connect unencrypted and unauthenticated. Use TLS (ssl.*) and users (auth.usersFile), bind ${name}.host to 127.0.0.1, or set auth.allowInsecureNetwork=true to accept it`);
      }
    }
  }
  let users: UsersFiles | undefined;
  if (a.usersFile) {
    try {
      users = new UsersFiles(a.usersFile, a.groupsFile, (e) => log.error({ err: e.message }, 'users file not reloaded: it does not parse (the previous version stays in force)'));
    } catch (e) {
      const file = e instanceof UsersFileError ? e.source : (e as NodeJS.ErrnoException).path;
      throw new ConfigError(file && file === a.groupsFile ? 'auth.groupsFile' : 'auth.usersFile', (e as Error).message);
    }
  }
  const u = users;
  return new Authenticator({
    users: u ? () => u.current() : undefined,
    anonymous: a.anonymous,
    anonymousGroups: a.anonymousGroups,
    maxFailures: a.maxFailures,
    failureWindowMs: a.failureWindowMs,
  });
}

/** The IP address of a Transport.remote ('10.0.0.9:51234', '::1:5', '[::1]:5'). */
function addressOf(remote: string): string {
  const i = remote.lastIndexOf(':');
  return (i > 0 ? remote.slice(0, i) : remote).replace(/^\[|\]$/g, '');
}

/** A sink for a refused connection: it is being closed, nothing it sends matters. */
const IGNORE: TransportSink = { receive() {}, drained() {}, transportClosed() {} };

export async function startGateway(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  const gatewayId = config.gateway.id;
  const log = opts.log ?? createLogger({ service: 'gateway', node: gatewayId });
  const registry = opts.registry ?? createRegistry('gateway', { instance: gatewayId });
  const metrics = new GatewayMetrics(registry);
  const channels = new Channels(opts.local, (channel) => metrics.channelsOpened.inc({ channel }));
  // With coordinators the master comes from the topology and sessions fail over; without,
  // store.address is the one store (a lost stream ends the client connection).
  const source: MasterSource = config.coordinators.length > 0
    ? new TopologyFollower({
      coordinators: config.coordinators,
      group: config.group,
      log,
      onMasterChange: () => metrics.masterChanges.inc(),
      onMembers: (addresses) => channels.warm(addresses),
    }).start()
    : new StaticMaster(config.store.address, config.group);
  const auth = makeAuthenticator(config, log);
  auth.onResult = (result) => metrics.logins.inc({ result });
  const ctx: GatewayContext & MqttContext = {
    config, log, metrics, channels, source, gatewayId, auth, mqttClients: new Map(),
    bootId: Date.now().toString(36) + randomBytes(2).toString('hex'),
    server: `Hawser/${hawserVersion()}`,
  };
  const connections = new Set<StompConnection | MqttConnection>();
  let seq = 0;
  let stopping = false;
  const max = config.limits.maximumConnections;
  const maxPerAddress = config.limits.maxConnectionsPerAddress;
  /** Open connections per remote IP address (limits.maxConnectionsPerAddress). */
  const perAddress = new Map<string, number>();

  const warnRefused = warnEvery(log, 10_000);
  const refuse = (transport: Transport, code: string, message: string) => {
    metrics.rejected.inc({ protocol: transport.protocol, reason: code });
    metrics.errors.inc({ code });
    // A connection flood must not become a log flood.
    warnRefused(code, { remote: transport.remote, protocol: transport.protocol }, `connection refused: ${message}`);
    // MQTT has nothing to say before CONNECT: the close is the answer.
    if (isMqtt(transport.protocol)) { transport.end(); return IGNORE; }
    transport.write(encodeFrame(frame('ERROR', { message, 'content-type': 'text/plain' }, `${message}\n`), '1.0'));
    transport.end();
    return IGNORE;
  };

  const accept = (transport: Transport): TransportSink => {
    if (stopping) return refuse(transport, 'SHUTTING_DOWN', 'server shutting down');
    if (connections.size >= max) {
      metrics.limitRefusals.inc({ limit: 'limits.maximumConnections' });
      return refuse(transport, 'MAX_CONNECTIONS', `maximum connections (${max}) reached`);
    }
    // One address may not take every slot.
    const address = addressOf(transport.remote);
    const fromAddress = perAddress.get(address) ?? 0;
    if (fromAddress >= maxPerAddress) {
      metrics.limitRefusals.inc({ limit: 'limits.maxConnectionsPerAddress' });
      return refuse(transport, 'MAX_CONNECTIONS_PER_ADDRESS', `maximum connections from ${address} (${maxPerAddress}) reached (limits.maxConnectionsPerAddress)`);
    }
    perAddress.set(address, fromAddress + 1);
    const conn = isMqtt(transport.protocol) ? new MqttConnection(ctx, transport, ++seq) : new StompConnection(ctx, transport, ++seq);
    connections.add(conn);
    metrics.connections.inc({ protocol: transport.protocol });
    metrics.connectionsTotal.inc({ protocol: transport.protocol });
    conn.onClosed = () => {
      connections.delete(conn);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
      metrics.connections.dec({ protocol: transport.protocol });
    };
    // Per-connection guard: nothing a client does may take the gateway down.
    return {
      receive: (chunk) => {
        try { conn.receive(chunk); } catch (e) { log.error({ err: e, connectionId: conn.id }, 'unexpected error'); conn.close('internal error', true); }
      },
      drained: () => { try { conn.drained(); } catch (e) { log.error({ err: e }, 'unexpected error on drain'); } },
      transportClosed: () => { try { conn.transportClosed(); } catch (e) { log.error({ err: e }, 'unexpected error on close'); } },
    };
  };
  const onSocketError = (e: Error) => log.debug({ err: e.message }, 'client socket error');
  // Refused before a Transport exists (a WebSocket Origin not in ws.origins: HTTP 403).
  const onRefused = (protocol: Transport['protocol'], reason: string, remote: string, message: string) => {
    metrics.rejected.inc({ protocol, reason });
    warnRefused(reason, { remote, protocol }, `connection refused: ${message}`);
  };
  const onTlsError = (protocol: Transport['protocol'], e: Error, remote: string) =>
    warnRefused(`TLS_${protocol}`, { remote, protocol, err: e.message }, 'TLS handshake failed');

  const listeners: Array<{ close(): Promise<void> }> = [];
  let http: HttpEndpoint | undefined;
  try {
    const ports = await startListeners(config, { accept, onSocketError, onRefused, onTlsError, log, metrics, certPollMs: opts.certPollMs });
    listeners.push(ports);
    const tcp = { port: ports.stompPort };
    const ws = { port: ports.wsPort };
    // Ready while accepting and the way to the master is not known to be failing.
    const ready = (): boolean => {
      if (stopping) return false;
      const m = source.master;
      return m !== undefined && channels.healthy(m.address);
    };
    if (opts.serveHttp !== false) http = await startHttpEndpoint({ log, host: config.http.host, port: config.http.port, registry, ready });
    const httpPort = http?.port ?? opts.metricsPort ?? 0;
    log.info({
      stompPort: tcp.port, wsPort: ws.port, sslPort: ports.sslPort, wssPort: ports.wssPort, mqttPort: ports.mqttPort, mqttsPort: ports.mqttsPort, httpPort, pid: process.pid, group: config.group,
      ...(opts.node ? { embeddedIn: opts.node } : {}),
      ...(source.failover ? { coordinators: config.coordinators } : { store: config.store.address }),
    }, 'gateway ready');
    const httpEndpoint = http;
    const registration = config.zk.address
      ? new GatewayRegistration({
        address: config.zk.address,
        path: config.zk.path,
        sessionTimeoutMs: config.zk.sessionTimeout,
        log,
        info: { id: gatewayId, group: config.group, stompPort: tcp.port, wsPort: ws.port, httpPort, pid: process.pid, host: config.stomp.host, ...(opts.node ? { node: opts.node } : {}) },
      }).start()
      : undefined;
    return {
      source,
      registration,
      stompPort: tcp.port,
      wsPort: ws.port,
      sslPort: ports.sslPort,
      wssPort: ports.wssPort,
      mqttPort: ports.mqttPort,
      mqttsPort: ports.mqttsPort,
      reloadTls: () => ports.reloadTls(),
      httpPort,
      registry,
      get connectionCount() { return connections.size; },
      get ready() { return ready(); },
      async stop() {
        if (stopping) return;
        stopping = true;
        await Promise.all(listeners.map((l) => l.close().catch(() => undefined)).concat(
          // Listener close waits for nothing but the listening sockets (ws 8, net with
          // existing connections resolve when those close) - so close clients meanwhile.
          (async () => {
            for (const conn of [...connections]) {
              conn.fail(new GatewayError('SHUTTING_DOWN', 'server shutting down'));
            }
            const deadline = Date.now() + 3_000;
            while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          })(),
        ));
        await httpEndpoint?.close();
        await registration?.stop();
        source.stop();
        channels.close();
        log.info('gateway stopped');
      },
    };
  } catch (e) {
    for (const l of listeners) await l.close().catch(() => undefined);
    await http?.close();
    source.stop();
    channels.close();
    throw e;
  }
}
