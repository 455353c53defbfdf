// Retained messages (ActiveMQ's `ActiveMQ.Retain` property, MQTT's RETAIN flag): each topic keeps
// at most one, the last message sent to it with the header `ActiveMQ.Retain: true`; a new
// subscription to the topic, or to a pattern matching it, gets it first, marked
// `ActiveMQ.Retained: true` (what the MQTT adapter turns into the RETAIN flag, [MQTT-3.3.1-8]).
//
// A retained SEND with an empty body clears the topic's retained message and is not itself
// retained [MQTT-3.3.1-10, -11]; it is still delivered to the current subscribers like any
// message ("processed as normal by the Server").
//
// They are state of the group: journaled (RetainOp / DropRetainedOp), materialized by the store
// (r\0<topic> records), replicated, in snapshots, read back at start (Recovered.retained). The
// core keeps them in memory (in a topic trie, so a wildcard subscription reads only its branch),
// bounded in count (broker.maxRetained) and bytes (broker.maxRetainedBytes).
import { TopicTrie } from './topic-match';
import { messageBytes } from './usage';
import { volatileSize } from './queue';
import type { JournalOp } from './journal';
import { BrokerError, ErrorCode, type Message } from './types';

/** The header a SEND carries to make its message the topic's retained one (ActiveMQ's property name). */
export const RETAIN_HEADER = 'ActiveMQ.Retain';
/** The header a retained message carries when delivered to a new subscription. */
export const RETAINED_HEADER = 'ActiveMQ.Retained';

/** Whether a message asks to be retained (`ActiveMQ.Retain: true`, any case). */
export function wantsRetain(m: Message): boolean {
  const v = m.headers?.[RETAIN_HEADER];
  return v !== undefined && v.toLowerCase() === 'true';
}

/** The copy a new subscription gets: the stored message, marked as retained. */
export function asRetained(m: Message): Message {
  return { ...m, headers: { ...m.headers, [RETAINED_HEADER]: 'true' } };
}

export class RetainedMessages {
  /** Keyed by the topic's path (after /topic/). */
  private readonly trie = new TopicTrie<Message>();
  private total = 0;
  /** Retained SENDs refused by maxRetained / maxRetainedBytes since start (a metric). */
  refused = 0;

  get size(): number { return this.trie.size; }
  /** Bytes of the retained messages (bodies and headers, messageBytes). */
  get bytes(): number { return this.total; }

  get(topic: string): Message | undefined { return this.trie.get(path(topic)); }

  /** Makes `m` the retained message of its topic (m.destination). */
  set(m: Message): void {
    const old = this.trie.get(path(m.destination));
    if (old) this.total -= messageBytes(old);
    this.trie.set(path(m.destination), m);
    this.total += messageBytes(m);
  }

  drop(topic: string): void {
    const old = this.trie.delete(path(topic));
    if (old) this.total -= messageBytes(old);
  }

  /** The retained messages a subscription to `destination` (a topic or a pattern) gets, not expired at `now`. */
  match(destination: string, now: number): Message[] {
    return this.trie.match(path(destination)).filter((m) => !(m.expires > 0 && m.expires <= now));
  }

  /** Every retained message (tests, admin). */
  all(): Message[] { return this.trie.values(); }

  /**
   * broker.maxRetained / maxRetainedBytes (0: no bound): refuses a retained SEND that would hold
   * more (replacing and clearing always pass). Checked when the SEND arrives.
   */
  admit(m: Message, max: number, maxBytes: number): void {
    if (!wantsRetain(m) || m.body.length === 0) return;
    const old = this.get(m.destination);
    if (max > 0 && !old && this.size >= max) {
      this.refused++;
      throw new BrokerError(ErrorCode.LimitExceeded, `too many retained messages: this broker holds ${this.size} topics' retained messages, the most allowed (broker.maxRetained); clear unused ones (a retained SEND with an empty body), send without ActiveMQ.Retain, or raise broker.maxRetained`, { fatal: false });
    }
    const bytes = this.bytes - (old ? volatileSize(old) : 0) + volatileSize(m);
    if (maxBytes > 0 && bytes > maxBytes) {
      this.refused++;
      throw new BrokerError(ErrorCode.LimitExceeded, `retained messages would take ${bytes} bytes, more than broker.maxRetainedBytes (${maxBytes}): clear unused ones (a retained SEND with an empty body), send a smaller one, or raise broker.maxRetainedBytes`, { fatal: false });
    }
  }

  /**
   * The op a retained SEND journals: the message becomes its topic's retained message; with an
   * empty body it clears it [MQTT-3.3.1-10, -11] (null: nothing to clear).
   */
  opFor(message: Message): JournalOp | null {
    if (message.body.length > 0) return { kind: 'retain', retain: { message } };
    return this.get(message.destination) ? { kind: 'dropRetained', dropRetained: { topic: message.destination } } : null;
  }
}

/** '/topic/a.b' -> 'a.b'. */
function path(destination: string): string {
  return destination.startsWith('/topic/') ? destination.slice(7) : destination;
}
