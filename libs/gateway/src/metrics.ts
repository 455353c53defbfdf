// Prometheus metrics of the gateway (names listed in apps/gateway/README.md). One registry
// per gateway instance so tests can run several in one process.
import { prom, TallyCounter, TallyHistogram } from '@hawser/observability';

/**
 * The listener and protocol a client came through (a metric label; transports/listeners.ts):
 * STOMP over TCP, WebSocket, TLS, secure WebSocket; MQTT over TCP, TLS, WebSocket (subprotocol
 * `mqtt` on the ws/wss listeners) and secure WebSocket.
 */
export type Protocol = 'stomp' | 'ws' | 'stomp+ssl' | 'wss' | 'mqtt' | 'mqtts' | 'mqtt+ws' | 'mqtt+wss';

/** Whether a transport speaks MQTT (protocols/mqtt) rather than STOMP. */
export function isMqtt(protocol: Protocol): boolean { return protocol.startsWith('mqtt'); }

export class GatewayMetrics {
  readonly connections: prom.Gauge<'protocol'>;
  readonly connectionsTotal: prom.Counter<'protocol'>;
  readonly rejected: prom.Counter<'protocol' | 'reason'>;
  readonly logins: prom.Counter<'result'>;
  // Per frame, packet or read: tallied (libs/observability tally.ts), handed to prom-client at a scrape.
  readonly framesIn: TallyCounter<'command'>;
  readonly framesOut: TallyCounter<'command'>;
  readonly bytesIn: TallyCounter<'protocol'>;
  readonly bytesOut: TallyCounter<'protocol'>;
  readonly errors: prom.Counter<'code'>;
  readonly storeFailures: prom.Counter<string>;
  readonly heartbeatTimeouts: prom.Counter<string>;
  readonly limitRefusals: prom.Counter<'limit'>;
  readonly limitPauses: prom.Counter<'limit'>;
  readonly receiptSeconds: TallyHistogram<'protocol'>;
  readonly sessionsMoved: prom.Counter<string>;
  readonly transactionsRolledBack: prom.Counter<string>;
  readonly failovers: prom.Counter<string>;
  readonly masterChanges: prom.Counter<string>;
  readonly waitingFrames: prom.Gauge<string>;
  readonly channelsOpened: prom.Counter<'channel'>;
  readonly tlsHandshakeFailures: prom.Counter<'protocol'>;
  readonly tlsReloads: prom.Counter<'result'>;
  readonly mqttPacketsIn: TallyCounter<'type'>;
  readonly mqttPacketsOut: TallyCounter<'type'>;
  readonly mqttProtocolErrors: prom.Counter<'protocol' | 'reason'>;
  readonly mqttConnacks: prom.Counter<'code'>;
  readonly mqttWills: prom.Counter<string>;
  readonly mqttTakeovers: prom.Counter<string>;
  readonly mqttClientIdRefusals: prom.Counter<string>;
  readonly mqttDiscards: prom.Counter<'result'>;

  constructor(registry: prom.Registry) {
    const registers = [registry];
    this.connections = new prom.Gauge({ name: 'hawser_gateway_connections', help: 'open client connections', labelNames: ['protocol'], registers });
    this.connectionsTotal = new prom.Counter({ name: 'hawser_gateway_connections_total', help: 'client connections accepted since start', labelNames: ['protocol'], registers });
    this.rejected = new prom.Counter({ name: 'hawser_gateway_connections_rejected_total', help: 'client connections refused (maximum connections, shutting down, WebSocket Origin not in ws.origins)', labelNames: ['protocol', 'reason'], registers });
    this.logins = new prom.Counter({ name: 'hawser_gateway_logins_total', help: 'login attempts at CONNECT by result: ok, certificate (a verified client certificate), anonymous, failed, throttled (refused unchecked: too many failures from the address)', labelNames: ['result'], registers });
    this.framesIn = new TallyCounter({ name: 'hawser_gateway_frames_in_total', help: 'STOMP frames received from clients', labelName: 'command', registers });
    this.framesOut = new TallyCounter({ name: 'hawser_gateway_frames_out_total', help: 'STOMP frames sent to clients', labelName: 'command', registers });
    this.bytesIn = new TallyCounter({ name: 'hawser_gateway_bytes_in_total', help: 'bytes received from clients', labelName: 'protocol', registers });
    this.bytesOut = new TallyCounter({ name: 'hawser_gateway_bytes_out_total', help: 'bytes sent to clients', labelName: 'protocol', registers });
    this.errors = new prom.Counter({ name: 'hawser_gateway_errors_total', help: 'ERROR frames sent to clients, by error code', labelNames: ['code'], registers });
    this.storeFailures = new prom.Counter({ name: 'hawser_gateway_store_stream_failures_total', help: 'Broker.Session streams that failed (store unreachable or gone)', registers });
    this.sessionsMoved = new prom.Counter({ name: 'hawser_gateway_sessions_moved_total', help: 'client sessions moved to a new master (re-opened, re-subscribed, un-receipted requests resent)', registers });
    this.transactionsRolledBack = new prom.Counter({ name: 'hawser_gateway_transactions_rolled_back_total', help: 'open transactions holding acks that a session move rolled back (their COMMIT is refused)', registers });
    this.failovers = new prom.Counter({ name: 'hawser_gateway_failovers_total', help: 'times a client session lost its master (stream failed, NOT_MASTER, or the topology named another master) and started moving', registers });
    this.masterChanges = new prom.Counter({ name: 'hawser_gateway_master_changes_total', help: 'changes of the group master seen in the coordinators\' topology (including to none)', registers });
    this.waitingFrames = new prom.Gauge({ name: 'hawser_gateway_waiting_frames', help: 'client requests held while their session has no master', registers });
    this.channelsOpened = new prom.Counter({ name: 'hawser_gateway_channels_opened_total', help: 'client sessions opened on a master, by channel: local = in-process in this store node (embedded gateway on the master), grpc = Broker.Session stream to another process', labelNames: ['channel'], registers });
    this.tlsHandshakeFailures = new prom.Counter({ name: 'hawser_gateway_tls_handshake_failures_total', help: 'TLS handshakes that failed on the stomp+ssl and wss listeners (plaintext to a TLS port, untrusted or missing client certificate, no common protocol)', labelNames: ['protocol'], registers });
    this.tlsReloads = new prom.Counter({ name: 'hawser_gateway_tls_reloads_total', help: 'reloads of ssl.cert/ssl.key/ssl.ca after the files changed: ok = new connections use them, failed = unreadable or mismatched, the previous ones stay', labelNames: ['result'], registers });
    this.mqttPacketsIn = new TallyCounter({ name: 'hawser_gateway_mqtt_packets_in_total', help: 'MQTT control packets received from clients, by type (connect, publish, puback, ...)', labelName: 'type', registers });
    this.mqttPacketsOut = new TallyCounter({ name: 'hawser_gateway_mqtt_packets_out_total', help: 'MQTT control packets sent to clients, by type', labelName: 'type', registers });
    this.mqttProtocolErrors = new prom.Counter({ name: 'hawser_gateway_mqtt_protocol_errors_total', help: 'MQTT connections closed for bad input (malformed, oversize, reserved flags, second CONNECT, packet before CONNECT, bad topic), by listener protocol and reason', labelNames: ['protocol', 'reason'], registers });
    this.mqttConnacks = new prom.Counter({ name: 'hawser_gateway_mqtt_connacks_total', help: 'CONNACKs sent, by return code (0 accepted, 1 protocol version, 2 identifier rejected, 3 server unavailable, 4 bad user name or password, 5 not authorized)', labelNames: ['code'], registers });
    this.mqttWills = new prom.Counter({ name: 'hawser_gateway_mqtt_wills_total', help: 'MQTT will messages published (the connection closed without DISCONNECT)', registers });
    this.mqttDiscards = new prom.Counter({ name: 'hawser_gateway_mqtt_session_discards_total', help: 'clean-session CONNECTs that discarded what a previous persistent session of the client id left in the store (its state records and durable subscriptions), by result: done, failed', labelNames: ['result'], registers });
    this.mqttTakeovers = new prom.Counter({ name: 'hawser_gateway_mqtt_takeovers_total', help: 'MQTT connections closed because a new CONNECT came with the same client id [MQTT-3.1.4-2]', registers });
    this.mqttClientIdRefusals = new prom.Counter({ name: 'hawser_gateway_mqtt_client_id_refusals_total', help: 'MQTT CONNECTs refused with CONNACK 5 because the client id belongs to another user (the login that made its persistent session)', registers });
    this.heartbeatTimeouts = new prom.Counter({ name: 'hawser_gateway_heartbeat_timeouts_total', help: 'connections closed because the client sent nothing within 2x the heart-beat interval', registers });
    this.limitRefusals = new prom.Counter({ name: 'hawser_gateway_limit_refusals_total', help: 'requests or connections refused with an ERROR (or idle connections closed) because a limit was reached, by the config key of the limit', labelNames: ['limit'], registers });
    // What a producer waits for: a SEND read -> its RECEIPT written (the store's journal commit, replication to a quorum, the way there and back).
    this.receiptSeconds = new TallyHistogram({
      name: 'hawser_gateway_receipt_seconds', help: 'time from a SEND with a receipt header read from the client to its RECEIPT written (STOMP), by protocol',
      labelName: 'protocol', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
    });
    this.limitPauses = new prom.Counter({ name: 'hawser_gateway_limit_pauses_total', help: 'times the gateway stopped reading a client because a limit was reached (limits.maxPendingReceipts), by the config key of the limit', labelNames: ['limit'], registers });
  }
}
