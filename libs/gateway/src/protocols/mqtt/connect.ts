// CONNECT -> CONNACK (MQTT 3.1.1 section 3.1, 3.2): the protocol level, the client id, the
// login (the same Authenticator as STOMP: users file, throttling, a verified TLS client
// certificate), client-id takeover, then the session — a clean one at once, a persistent one
// once its state is read back from the store (session-state.ts).
import type { IConnectPacket } from 'mqtt-packet';
import { LoginError, type Principal } from '@hawser/security';
import { ClientSession } from '../../session/client-session';
import type { MqttConnection } from './connection';
import { SessionState, type SessionRecord } from './session-state';
import { publishDestination } from './topics';
import { resumeSubscription } from './subscribe';
import { resumePublish, resumeRelease } from './deliver';

/** CONNACK return codes (MQTT 3.1.1 table 3.1). */
export const CONNACK = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const;

/** Longest client id taken, in bytes (MQTT 3.1.1 allows a server to take more than 23). */
export const MAX_CLIENT_ID_BYTES = 256;

export function connack(c: MqttConnection, returnCode: number, sessionPresent = false): void {
  c.ctx.metrics.mqttConnacks.inc({ code: String(returnCode) });
  // [MQTT-3.2.2-4] a refusing CONNACK has session present 0; MQTT 3.1 has no such flag.
  c.write({ cmd: 'connack', returnCode, sessionPresent: returnCode === 0 && c.version === 4 && sessionPresent });
}

function refuse(c: MqttConnection, returnCode: number, why: string): void {
  c.log.info({ returnCode, clientId: c.clientId }, `MQTT CONNECT refused: ${why}`);
  connack(c, returnCode);
  // [MQTT-3.2.2-5] after a refusing CONNACK the server closes the connection.
  c.close(`CONNECT refused: ${why}`);
}

export function onConnect(c: MqttConnection, p: IConnectPacket): void {
  // [MQTT-3.1.2-2] an unsupported protocol level gets return code 1, then the close.
  if (p.protocolVersion !== 4 && p.protocolVersion !== 3) {
    c.version = 4;
    refuse(c, CONNACK.UNACCEPTABLE_PROTOCOL, `protocol level ${p.protocolVersion} (this server speaks MQTT 3.1.1 and 3.1)`);
    return;
  }
  c.version = p.protocolVersion;
  c.clean = p.clean !== false;
  c.keepalive = p.keepalive ?? 0;
  let clientId = p.clientId ?? '';
  if (clientId === '') {
    // [MQTT-3.1.3-8] a zero-length client id needs a clean session; [MQTT-3.1.3-6] the server
    // then gives it a unique one.
    if (!c.clean || c.version === 3) {
      refuse(c, CONNACK.IDENTIFIER_REJECTED, 'zero-length client id without a clean session [MQTT-3.1.3-8]');
      return;
    }
    clientId = `hawser-${c.id}`;
  }
  c.clientId = clientId;
  if (Buffer.byteLength(clientId) > MAX_CLIENT_ID_BYTES) {
    refuse(c, CONNACK.IDENTIFIER_REJECTED, `client id of ${Buffer.byteLength(clientId)} bytes, the most taken is ${MAX_CLIENT_ID_BYTES}`);
    return;
  }
  if (p.will) {
    // A will topic is a topic name like a PUBLISH's [MQTT-3.1.3-10].
    publishDestination(p.will.topic);
    c.will = p.will;
  }
  c.state = 'authenticating';
  // The check may take a scrypt (off the event loop): hold what the client sends meanwhile.
  c.held = [];
  c.updateReading();
  const peer = c.transport.tls?.peer;
  const login = p.username ?? '';
  c.ctx.auth.authenticate({
    login,
    passcode: p.password ? Buffer.from(p.password).toString('utf8') : '',
    remote: remoteHost(c.transport.remote),
    certificateLogin: peer?.authorized ? peer.subject : undefined,
  }).then(
    (principal) => loggedIn(c, principal),
    (e: unknown) => {
      if (!c.isOpen) return;
      if (e instanceof LoginError) {
        // 4: the user name or password is wrong; 5: not authorized (no credentials and no anonymous, throttled).
        const code = e.code === 'LOGIN_FAILED' && (login || p.password) ? CONNACK.BAD_USERNAME_OR_PASSWORD : CONNACK.NOT_AUTHORIZED;
        refuse(c, code, `${e.code}: ${e.message}`);
      } else c.failWith(e);
    },
  );
}

function loggedIn(c: MqttConnection, principal: Principal): void {
  if (!c.isOpen) return;
  c.login = principal.login;
  c.state = 'opening';
  const session = new ClientSession(c.ctx, c.log, {
    onOpened: () => opened(c),
    onReceipt: (token) => c.onReceipt(token),
    onDelivery: (d) => c.onStoreDelivery(d),
    onRefused: (err, token) => c.onRefused(err, token),
    onFatal: (err) => c.fail(err),
    onBackpressure: () => c.backpressure(true),
    onDrain: () => c.backpressure(false),
  });
  c.session = session;
  session.open(c.id, c.clientId, principal);
}

/** The session is open (or waits for a master, with failover): read or discard its state, then CONNACK. */
function opened(c: MqttConnection): void {
  // With failover the session says it is open at once ('') and again when a master opens it,
  // and again after each move: the state is read once.
  if (c.state !== 'opening' || c.sessionState) return;
  const state = new SessionState(c);
  c.sessionState = state;
  // A client id belongs to the login that made its persistent session (the owner of its
  // records' durable, as any durable subscription belongs to its maker): another user's CONNECT
  // with it is refused before it touches anything of the owner's — no takeover, no discard.
  // So the session's first request is the read of its records (load), and the takeover waits
  // for the store's answer that the id is this user's (`claimed`).
  if (c.clean) {
    // [MQTT-3.1.2-6] a clean session starts afresh; what a previous persistent session left
    // is discarded behind the CONNACK (the new session does not depend on it).
    let accepted = false;
    const accept = () => {
      if (accepted || c.state !== 'opening') return;
      accepted = true;
      takeOver(c);
      connected(c, false);
    };
    state.discard((ok) => {
      accept(); // refused for another reason (the map grants no $mqtt.>): a clean session goes on without
      c.ctx.metrics.mqttDiscards.inc({ result: ok ? 'done' : 'failed' });
      c.log.debug({ ok }, 'previous MQTT session state discarded');
    }, accept, (message) => refuseTaken(c, message));
    return;
  }
  state.load((records) => {
    if (!c.isOpen) return;
    // One live record per thing (a connection that died between writing a record and removing
    // its predecessor leaves two): the newest wins, the others go.
    const live = new Map<string, [string, SessionRecord]>();
    for (const [id, rec] of records) {
      const what = rec.t === 'sub' ? `sub:${rec.f}` : rec.t === 'session' || rec.t === 'out1' ? rec.t : rec.t === 'mark' ? '' : `${rec.t}:${rec.p}`;
      if (!what) continue;
      const prev = live.get(what);
      if (prev) state.remove(prev[0]);
      live.set(what, [id, rec]);
    }
    // Each record is written afresh and its old copy removed: a record is a message the store
    // redelivers on every connect, and a message delivered more than broker.maximumRedeliveries
    // times goes to the dead-letter queue — a fresh one starts its count again. The new copies
    // go first, so a connection lost in between leaves two (handled above), never none.
    const present = live.has('session');
    const refreshed: Array<[string, SessionRecord]> = [];
    let qos1: Array<[number, string, string]> = [];
    for (const [id, rec] of live.values()) {
      // The last close's QoS 1 packet ids are this connection's now; its own close writes them again.
      if (rec.t === 'out1') { qos1 = Array.isArray(rec.l) ? rec.l : []; state.remove(id); continue; }
      refreshed.push([state.add(rec), rec]);
      state.remove(id);
    }
    if (!present) state.add({ t: 'session' });
    const rels: Array<[string, number]> = [];
    for (const [id, rec] of refreshed) {
      switch (rec.t) {
        case 'in': c.inQos2.set(rec.p, { state: 'stored', record: id, digest: rec.h }); break;
        case 'rel': rels.push([id, rec.p]); break;
      }
    }
    // QoS 2 PUBLISHes that went out without a PUBREC keep their packet ids for the store's
    // redelivery [MQTT-4.4.0-1]; an id already past PUBREC ('rel') has no PUBLISH to resend.
    const released = new Set(rels.map(([, pid]) => pid));
    for (const [id, rec] of refreshed) {
      if (rec.t !== 'out') continue;
      if (released.has(rec.p) || c.outIds.has(rec.p)) { state.remove(id); continue; }
      resumePublish(c, rec.p, rec.s, rec.m, id);
    }
    // QoS 1 PUBLISHes without PUBACK keep their ids too [MQTT-4.4.0-1] (deliver.ts saveQos1).
    for (const [pid, sub, message] of qos1) {
      if (released.has(pid) || c.outIds.has(pid)) continue;
      resumePublish(c, pid, sub, message, undefined, 1);
    }
    for (const [id, rec] of refreshed) if (rec.t === 'sub') resumeSubscription(c, rec.f, rec.q, id);
    // [MQTT-3.2.2-2] session present says whether the server had a session for this client id.
    connected(c, present);
    // [MQTT-4.4.0-1] on reconnect with a persistent session, unacknowledged PUBRELs are sent again
    // (unacknowledged PUBLISHes come again from the store's durable subscriptions, with their ids).
    for (const [id, pid] of rels) resumeRelease(c, pid, id);
  }, (code, message) => {
    if (code === 'CLIENT_ID_TAKEN') { refuseTaken(c, message); return; }
    c.log.info({ code, error: message }, 'MQTT session state could not be read');
    refuse(c, CONNACK.SERVER_UNAVAILABLE, `session state not readable: ${code}`);
  }, () => takeOver(c));
}

/**
 * [MQTT-3.1.4-2] a client id already connected: the existing connection is closed — on this
 * gateway directly, on another when it hears the announcement (session-state.ts). Only once the
 * store said the id is this user's.
 */
function takeOver(c: MqttConnection): void {
  if (!c.isOpen || c.ctx.mqttClients.get(c.clientId) === c) return;
  const old = c.ctx.mqttClients.get(c.clientId);
  if (old) {
    c.ctx.metrics.mqttTakeovers.inc();
    old.log.info({ clientId: c.clientId, by: c.id }, 'MQTT client id taken over by a new connection: closing this one [MQTT-3.1.4-2]');
    old.close('client id taken over');
  }
  c.ctx.mqttClients.set(c.clientId, c);
  c.sessionState!.announce();
}

/** The client id's persistent session is another user's: CONNACK 5, and nothing of the owner's is touched. */
function refuseTaken(c: MqttConnection, message: string): void {
  if (!c.isOpen) return;
  c.ctx.metrics.mqttClientIdRefusals.inc();
  refuse(c, CONNACK.NOT_AUTHORIZED, `the client id belongs to another user (the login that made its persistent session), not to '${c.login}': ${message}`);
}

function connected(c: MqttConnection, sessionPresent: boolean): void {
  c.state = 'connected';
  connack(c, 0, sessionPresent);
  c.startKeepAlive();
  c.log.debug({ clientId: c.clientId, clean: c.clean, keepalive: c.keepalive, sessionPresent }, 'MQTT client connected');
  c.release();
}

/** '10.0.0.9:51234' -> '10.0.0.9', '::1:5' -> '::1': the key of failed-login throttling. */
function remoteHost(remote: string): string {
  const i = remote.lastIndexOf(':');
  return (i > 0 ? remote.slice(0, i) : remote).replace(/^\[|\]$/g, '');
}

