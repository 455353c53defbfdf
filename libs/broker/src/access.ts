// Who may do what, for every session whatever protocol or service opened it: the
// authorization map (CoreOptions.authorizer, @hawser/security's AuthorizationMap) and the rule
// that an MQTT session's records are its own client id's. The core asks authorize() at SEND and
// SUBSCRIBE and mayRead() for each message a wildcard subscription would get.
import type { Authorizer, DurableState, Session } from './model';
import { BrokerError, ErrorCode } from './types';

/** The MQTT session records' topics and durable name (libs/gateway protocols/mqtt/session-state.ts): foreignSessionTopic. */
const MQTT_SESSION_TOPIC = '/topic/$mqtt.session.';
const MQTT_SESSION_DURABLE = '$mqtt.session';

export class Access {
  constructor(
    private readonly opts: {
      authorizer?: Authorizer;
      onForbidden?: (login: string, action: 'read' | 'write', destination: string) => void;
    },
    /** The core's durable subscriptions: who owns an MQTT client id's persistent session. */
    private readonly durables: ReadonlyMap<string, DurableState>,
  ) {}

  /** Whether session `s` may read or write `destination`: throws FORBIDDEN (or CLIENT_ID_TAKEN) if not. */
  authorize(s: Session, action: 'read' | 'write', destination: string): void {
    const foreign = this.foreignSessionTopic(s, destination);
    if (foreign) {
      this.opts.onForbidden?.(s.login, action, destination);
      // The client id is another user's: its own code, so an MQTT gateway answers CONNACK 5 (a map's refusal is not that).
      if (foreign === 'user') throw new BrokerError(ErrorCode.ClientIdTaken, `client id '${s.clientId}' belongs to another user's persistent MQTT session: connect with a client id of your own`);
      throw new BrokerError(ErrorCode.Forbidden, `${destination} holds the MQTT session records of another client id: only that client id's sessions may ${action === 'read' ? 'read' : 'write'} them`);
    }
    const a = this.opts.authorizer;
    if (!a || a.can(s, action, destination)) return;
    this.opts.onForbidden?.(s.login, action, destination);
    const who = s.login ? `user '${s.login}'` : 'an anonymous client';
    const verb = action === 'read' ? 'read from' : 'write to';
    throw new BrokerError(ErrorCode.Forbidden, `${who} may not ${verb} ${destination} (groups: ${s.groups.join(',') || 'none'}): ask an administrator for ${action} permission in the authorization map`);
  }

  /**
   * A wildcard subscription gets a topic's messages only if its session may read that topic:
   * the pattern itself passed the authorization map at SUBSCRIBE, but a map entry can match a
   * pattern's text (`*.*` matches the name `a.>`) without granting every topic the pattern
   * matches. Decisions are cached by the map, so this is a lookup per (topic, pattern subscriber).
   */
  mayRead(s: Session, destination: string): boolean {
    if (this.foreignSessionTopic(s, destination)) return false;
    const a = this.opts.authorizer;
    return !a || a.can(s, 'read', destination);
  }

  /**
   * An MQTT session's records (`/topic/$mqtt.session.<client id, hex>`, libs/gateway's
   * protocols/mqtt/session-state.ts) are that client id's own: a session with another client
   * id, or of another user than the one whose persistent session made them (the owner of the
   * client id's `$mqtt.session` durable subscription), may neither read nor write them,
   * whatever the authorization map grants. A bridge's session carries them like any topic.
   */
  private foreignSessionTopic(s: Session, destination: string): false | 'client' | 'user' {
    if (!destination.startsWith(MQTT_SESSION_TOPIC) || s.network) return false;
    if (destination.slice(MQTT_SESSION_TOPIC.length) !== Buffer.from(s.clientId, 'utf8').toString('hex') || !s.clientId) return 'client';
    const owner = this.durables.get(`${s.clientId}\u0000${MQTT_SESSION_DURABLE}`)?.op.owner;
    return !!owner && owner !== s.login ? 'user' : false;
  }
}
