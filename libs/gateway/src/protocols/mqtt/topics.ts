// MQTT topics in the broker's one namespace, as ActiveMQ maps them (MQTTProtocolConverter
// convertMQTTToActiveMQ): topic `a/b/c` is the destination `/topic/a.b.c`, the wildcards `+`
// and `#` are `*` and `>`, and a `.` or `*`/`>` inside an MQTT level becomes `/`, `+`/`#` so the
// mapping is its own inverse — a STOMP client on `/topic/a.b.c` and an MQTT client on `a/b/c`
// meet, and a destination maps back to the topic it came from. Pure: no I/O.

/** Characters swapped between the MQTT and the ActiveMQ spelling (an involution). */
const SWAP: Record<string, string> = { '/': '.', '.': '/', '+': '*', '*': '+', '#': '>', '>': '#' };

function swap(s: string): string {
  let out = '';
  for (const ch of s) out += SWAP[ch] ?? ch;
  return out;
}

export class TopicError extends Error {
  readonly code = 'BAD_TOPIC';
  constructor(message: string) {
    super(message);
    this.name = 'TopicError';
  }
}

/**
 * A topic that was not well-formed UTF-8: the connection closes [MQTT-1.5.3-1], whatever the
 * packet (a bad but well-formed SUBSCRIBE filter only gets 0x80).
 */
export class MalformedUtf8Error extends TopicError {}

/**
 * mqtt-packet decodes a string's bytes with Buffer's utf8, which turns every ill-formed sequence
 * (and a UTF-16 surrogate's encoding, MQTT-1.5.3-1's other case) into U+FFFD: a topic holding it
 * is refused. A sender's own U+FFFD in a topic is refused too (the two cannot be told apart
 * after decoding; the replacement character has no place in a topic name).
 */
function wellFormed(topic: string, what: string): void {
  if (topic.includes('\uFFFD')) throw new MalformedUtf8Error(`a ${what} must be well-formed UTF-8 [MQTT-1.5.3-1]`);
}

/**
 * Checks a PUBLISH topic name (or a will topic): at least one character, no wildcard
 * [MQTT-3.3.2-2], no U+0000 [MQTT-1.5.3-2], well-formed UTF-8 [MQTT-1.5.3-1]. Returns its destination.
 */
export function publishDestination(topic: string): string {
  if (topic.length === 0) throw new TopicError('a topic name must be at least one character long [MQTT-4.7.3-1]');
  wellFormed(topic, 'topic name');
  if (/[+#]/.test(topic)) throw new TopicError(`topic name ${JSON.stringify(topic)} has a wildcard (+ or #): wildcards are for SUBSCRIBE only [MQTT-3.3.2-2]`);
  if (topic.includes('\u0000')) throw new TopicError('a topic name must not contain U+0000 [MQTT-4.7.3-2]');
  return `/topic/${swap(topic)}`;
}

/**
 * Checks a SUBSCRIBE/UNSUBSCRIBE topic filter: `#` only alone and last in its level and the
 * filter [MQTT-4.7.1-2], `+` only alone in its level [MQTT-4.7.1-3]. Returns its destination
 * (`/topic/a.*.>`).
 */
export function filterDestination(filter: string): string {
  if (filter.length === 0) throw new TopicError('a topic filter must be at least one character long [MQTT-4.7.3-1]');
  wellFormed(filter, 'topic filter');
  if (filter.includes('\u0000')) throw new TopicError('a topic filter must not contain U+0000 [MQTT-4.7.3-2]');
  const levels = filter.split('/');
  levels.forEach((level, i) => {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      throw new TopicError(`topic filter ${JSON.stringify(filter)}: # must be a whole level and the last one [MQTT-4.7.1-2]`);
    }
    if (level.includes('+') && level !== '+') {
      throw new TopicError(`topic filter ${JSON.stringify(filter)}: + must be a whole level [MQTT-4.7.1-3]`);
    }
  });
  return `/topic/${swap(filter)}`;
}

/** The MQTT topic name of a destination (`/topic/a.b.c` -> `a/b/c`; a queue keeps its name: `queue/<name>` mapped alike). */
export function topicOf(destination: string): string {
  if (destination.startsWith('/topic/')) return swap(destination.slice(7));
  if (destination.startsWith('/queue/')) return `queue/${swap(destination.slice(7))}`;
  return swap(destination);
}

/** Whether a filter has a wildcard (the broker's wildcard subscriptions serve it). */
export function isWildcard(filter: string): boolean {
  return /[+#]/.test(filter);
}

/**
 * Whether topic name `topic` matches `filter` (MQTT 3.1.1 section 4.7): `+` one level, `#` the
 * rest including the parent level; a wildcard first level never matches a `$` topic [MQTT-4.7.2-1].
 */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
