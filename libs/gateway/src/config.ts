// Options of the gateway service (documented in apps/gateway/README.md). The key names are
// fixed: deploy files, the local cluster and the integration suite pass them as flags.
import { str, int, port, list, bool, type ConfigOf } from '@hawser/config';
import { hostname } from 'node:os';
import { tlsSchema } from '@hawser/proto';
import { zkAuthField } from '@hawser/zk';

export const schema = {
  gateway: { id: str(hostname(), 'this gateway instance\'s name (logs, metrics, Open.gateway, generated message ids)', { allowEmpty: false }) },
  stomp: {
    enabled: bool(true, 'serve STOMP over plain TCP; false with ssl.cert set makes TLS required'),
    host: str('127.0.0.1', 'address of the STOMP-over-TCP listener'),
    port: port(61613, 'port of the STOMP-over-TCP listener (0: pick a free one)'),
  },
  ws: {
    enabled: bool(true, 'serve STOMP over plain WebSocket (ws://); false with ssl.cert set leaves wss:// only'),
    host: str('127.0.0.1', 'address of the STOMP-over-WebSocket listener'),
    port: port(61614, 'port of the STOMP-over-WebSocket listener (0: pick a free one)'),
    origins: list([], 'WebSocket Origins allowed to connect (ws and wss), e.g. https://app.example.com; empty: any; a browser upgrade from another Origin gets HTTP 403 (requests without an Origin header, i.e. not from a browser, are always let through)'),
  },
  ssl: {
    enabled: bool(true, 'serve STOMP over TLS (stomp+ssl://) on ssl.host:ssl.port when ssl.cert is set'),
    host: str('127.0.0.1', 'address of the STOMP-over-TLS listener'),
    port: port(61612, 'port of the STOMP-over-TLS listener (0: pick a free one)'),
    cert: str('', 'PEM file with this server\'s certificate (and its intermediates); set: the TLS listeners (ssl, wss) start. Reloaded when the file changes'),
    key: str('', 'PEM file with the private key of ssl.cert'),
    ca: str('', 'PEM file of the CA(s) that sign client certificates (needed by ssl.requestCert and ssl.requireClientCert)'),
    requestCert: bool(false, 'ask TLS clients for a certificate; one that does not verify against ssl.ca still connects (Transport.tls.peer.authorized false)'),
    requireClientCert: bool(false, 'TLS clients must present a certificate signed by ssl.ca, or the handshake fails'),
  },
  wss: {
    enabled: bool(true, 'serve STOMP over secure WebSocket (wss://) on wss.host:wss.port when ssl.cert is set (same certificate as ssl)'),
    host: str('127.0.0.1', 'address of the STOMP-over-secure-WebSocket listener'),
    port: port(61615, 'port of the STOMP-over-secure-WebSocket listener (0: pick a free one)'),
  },
  mqtt: {
    enabled: bool(false, 'serve MQTT 3.1.1 over plain TCP on mqtt.host:mqtt.port (ActiveMQ\'s mqtt:// transport connector); MQTT over WebSocket needs no key: the ws/wss listeners take the subprotocol `mqtt`'),
    host: str('127.0.0.1', 'address of the MQTT-over-TCP listener'),
    port: port(1883, 'port of the MQTT-over-TCP listener (0: pick a free one)'),
    maxPacketSize: int(8 * 1024 * 1024, 'largest MQTT control packet a client may send, in bytes (fixed header included); a larger one closes the connection', 64, 268_435_460),
    maxInflight: int(100, 'QoS 1 and 2 PUBLISHes one MQTT subscription may have unacknowledged at the client (the store\'s prefetch); more wait in the store', 1, 65_535),
  },
  mqtts: {
    enabled: bool(false, 'serve MQTT over TLS (mqtt+ssl://) on mqtts.host:mqtts.port when ssl.cert is set (same certificate, CA and client-certificate keys as ssl.*)'),
    host: str('127.0.0.1', 'address of the MQTT-over-TLS listener'),
    port: port(8883, 'port of the MQTT-over-TLS listener (0: pick a free one)'),
  },
  http: {
    host: str('127.0.0.1', 'address of the metrics/health HTTP endpoint'),
    port: port(8161, 'port of the metrics/health HTTP endpoint (0: pick a free one)'),
  },
  store: {
    address: str('127.0.0.1:61620', 'host:port of the store (group master) serving Broker.Session', { allowEmpty: false }),
    openTimeout: int(10_000, 'ms to wait for the store to answer a session open before the client gets an ERROR', 100),
  },
  coordinators: list([], 'host:port of the coordinators serving Topology.Watch; when set, the group master comes from the topology (store.address is ignored) and sessions fail over'),
  group: str('default', 'the group (ActiveMQ brokerName) whose master this gateway serves', { allowEmpty: false }),
  failover: {
    maxWaitMs: int(30_000, 'ms a session may be without a master (its client frames wait) before the client gets ERROR "no master for group g: ..."', 1),
    resendTimeoutMs: int(5_000, 'ms a new master may take to answer a moved session\'s open before the gateway tries again (within failover.maxWaitMs)', 1),
    maxWaitingFrames: int(1_000, 'requests one client may queue while its session has no master; above it the gateway stops reading from that client', 1),
    ackWaitMs: int(5_000, 'ms an ACK/NACK (with a receipt) of a delivery made by a previous master waits for that message to come again to the session, which it then settles; past it (or if the session ends first) the receipt is answered with ERROR ACK_NOT_CONFIRMED, never a RECEIPT', 1),
  },
  zk: {
    address: str('', 'ZooKeeper connect string (host:port,...); when set the gateway registers <zk.path>/gateways/<gateway.id>'),
    path: str('/hawser', 'root znode of Hawser in ZooKeeper (zkPath)', { allowEmpty: false }),
    sessionTimeout: int(4_000, 'ZooKeeper session timeout in ms', 100),
    auth: zkAuthField,
  },
  // Mutual TLS of the gateway's calls to stores and coordinators (docs/security.md); the
  // client-facing TLS is ssl.*. A store's embedded gateway uses the store's tls.* instead.
  tls: tlsSchema,
  limits: {
    maximumConnections: int(1000, 'most client connections at once (TCP and WebSocket together); the next one gets an ERROR', 1),
    maxFrameSize: int(65 * 1024 * 1024, 'largest STOMP frame in bytes (command + headers + body): a 64 MiB body with up to 1 MiB of headers; ActiveMQ\'s STOMP default is 100 MB. Memory and replication cost per message: docs/benchmarks.md (large messages)', 64),
    maxHeaders: int(1000, 'most headers in one frame', 1),
    maxHeaderLength: int(10240, 'longest header line (name:value) in bytes', 16),
    connectTimeout: int(30_000, 'ms a new connection may take to send CONNECT before it is closed (ActiveMQ connectAttemptTimeout); 0: no limit', 0),
    writeBufferHigh: int(1024 * 1024, 'bytes queued to a client above which the gateway stops reading from it and from its store stream', 1024),
    producerWindow: int(1000, 'SENDs of one client the store has not confirmed yet (with or without a client receipt: the gateway asks for one itself); at it the gateway stops reading from the client (the frames or packets of the read in hand wait too) until half are confirmed — a producer held by the store\'s flow control (broker.memoryLimit / storeLimit) stops here (ActiveMQ producerWindowSize, in messages); 0: no window', 0),
    maxConnectionsPerAddress: int(1000, 'most client connections at once from one remote IP address (all listeners together); the next one gets an ERROR', 1),
    maxSubscriptions: int(1000, 'most subscriptions one connection may hold; a SUBSCRIBE beyond it gets an ERROR', 1),
    maxTransactions: int(100, 'most transactions one connection may have open (BEGIN without COMMIT/ABORT); a BEGIN beyond it gets an ERROR', 1),
    maxPendingReceipts: int(10_000, 'most requests of one connection awaiting the store\'s receipt; at it the gateway stops reading from the client until half have come (no ERROR)', 1),
    maxMessageIdLength: int(256, 'longest message-id header a client may set on SEND, in bytes (UTF-8); longer gets an ERROR', 1),
    maxPrefetch: int(10_000, 'largest prefetch a subscription gets; a larger activemq.prefetchSize is lowered to it, not refused', 1),
  },
  heartbeat: {
    send: int(10_000, 'ms between heart-beats the gateway offers to send (0: none)', 0),
    expect: int(10_000, 'ms between heart-beats the gateway asks clients to send (0: none)', 0),
    min: int(1_000, 'shortest heart-beat interval the gateway honours when a client asks for a shorter one than heartbeat.send/expect (STOMP takes the larger of the two sides\' values, so without it heartbeat.send/expect would be a floor)', 1),
    idleTimeout: int(300_000, 'ms of silence (no frame, no heart-beat) after which a client is closed with an ERROR even when it declined heart-beats (STOMP 1.0, heart-beat 0,...) or offered slower ones; 0: never', 0),
  },
  auth: {
    usersFile: str('', 'users file: one "login=<scrypt hash>" per line (make lines with `hawser passwd`; plaintext is refused); re-read when it changes'),
    groupsFile: str('', 'groups file: one "group=login,login,..." per line; the groups are what the stores\' authorization map grants'),
    anonymous: bool(false, 'let clients connect without a login (their groups: auth.anonymousGroups); with neither this nor auth.usersFile nobody could connect, so the gateway refuses to start'),
    anonymousGroups: list(['anonymous'], 'groups of an anonymous client (ActiveMQ\'s anonymousGroup)'),
    maxFailures: int(5, 'failed logins allowed per remote address within auth.failureWindowMs; beyond it the address is refused without a check until the window passes', 1),
    failureWindowMs: int(60_000, 'window of auth.maxFailures (ms)', 1_000),
    allowInsecureNetwork: bool(false, 'let a plaintext listener (stomp, ws) on a non-loopback address accept anonymous clients; without it such a gateway refuses to start (use TLS, users, or a loopback address)'),
  },
};

export type Config = ConfigOf<typeof schema>;
