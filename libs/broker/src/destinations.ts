// Destination names the broker core gives a meaning beyond /queue/<name> and /topic/<name>,
// as ActiveMQ 5.x does (docs/architecture.md, "Destinations"). Pure: names in, names out.
//
//   /temp-queue/<owner>/<name>   a temporary queue of the connection whose key is <owner>
//   /temp-topic/<owner>/<name>   a temporary topic of that connection
//   /queue/a,/topic/b            a composite destination: a SEND goes to each part
//   /topic/VirtualTopic.X        a virtual topic: a SEND also goes to every existing queue
//   /queue/Consumer.<c>.VirtualTopic.X   named so (ActiveMQ's default prefix Consumer.*.)
//
// <owner> is tempOwnerKey(Open.connectionId): only that connection may consume the temp
// destination, and it is deleted when that connection's session ends. Protocol adapters map
// their own spellings onto these names (the STOMP adapter: /temp-queue/x <-> the owner's
// /temp-queue/<owner>/x, /remote-temp-queue/<owner>/x for other connections).

import { BrokerError, ErrorCode } from './types';

export type DestinationType = 'queue' | 'topic' | 'temp-queue' | 'temp-topic';

/** ActiveMQ's composite separator. */
export const COMPOSITE_SEPARATOR = ',';
/** ActiveMQ's default virtual topic name pattern is VirtualTopic.> ... */
export const VIRTUAL_TOPIC_PREFIX = 'VirtualTopic.';
/** ... consumed through queues Consumer.<name>.VirtualTopic.<rest> (prefix Consumer.*.). */
export const VIRTUAL_CONSUMER_PREFIX = 'Consumer.';

/** The key of a connection in temp destination names: its id with '/' (and '%') escaped. */
export function tempOwnerKey(connectionId: string): string {
  return connectionId.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** The broker name of temp destination `name` of the connection `connectionId`. */
export function tempDestinationName(type: 'temp-queue' | 'temp-topic', connectionId: string, name: string): string {
  return `/${type}/${tempOwnerKey(connectionId)}/${name}`;
}

/** '/temp-queue/<owner>/<name>' -> its parts; null for any other name. */
export function parseTemp(d: string): { type: 'temp-queue' | 'temp-topic'; owner: string; name: string } | null {
  const m = /^\/(temp-queue|temp-topic)\/([^/]+)\/(.+)$/s.exec(d);
  if (!m || d.includes('\u0000')) return null;
  return { type: m[1] as 'temp-queue' | 'temp-topic', owner: m[2]!, name: m[3]! };
}

export function isTemp(d: string): boolean {
  return d.startsWith('/temp-queue/') || d.startsWith('/temp-topic/');
}

/**
 * '/queue/x' and '/topic/x', and the temporary ones (above): '/temp-queue/<owner>/x' is
 * a queue and '/temp-topic/<owner>/x' a topic, `temp` set. A composite name is not one destination: null.
 */
export function parseDestination(d: string): { type: 'queue' | 'topic'; name: string; temp?: boolean } | null {
  if (isComposite(d)) return null;
  const temp = parseTemp(d);
  if (temp) return { type: temp.type === 'temp-queue' ? 'queue' : 'topic', name: `${temp.owner}/${temp.name}`, temp: true };
  const m = /^\/(queue|topic)\/(.+)$/.exec(d);
  if (!m || d.includes('\u0000')) return null;
  return { type: m[1] as 'queue' | 'topic', name: m[2]! };
}

/** The refusal of a name that parseDestination does not take. */
export function badDestination(d: string): BrokerError {
  return new BrokerError(ErrorCode.InvalidDestination,
    `invalid destination '${d}': use /queue/<name> for point-to-point or /topic/<name> for publish-subscribe`);
}

/** True for a composite destination ('/queue/a,/topic/b'). */
export function isComposite(d: string): boolean {
  return d.includes(COMPOSITE_SEPARATOR);
}

/** The parts of a composite destination, each a full name ('/queue/a,/topic/b' -> both). */
export function compositeParts(d: string): string[] {
  return d.split(COMPOSITE_SEPARATOR).map((p) => p.trim()).filter((p) => p !== '');
}

/**
 * The virtual topic a queue consumes, or null: '/queue/Consumer.A.VirtualTopic.Orders' ->
 * '/topic/VirtualTopic.Orders' (the consumer name is one segment, as ActiveMQ's Consumer.*.).
 */
export function virtualTopicOf(queue: string): string | null {
  const m = /^\/queue\/Consumer\.[^.]+\.(VirtualTopic\..+)$/s.exec(queue);
  return m ? `/topic/${m[1]}` : null;
}

/** True for a topic that is a virtual topic ('/topic/VirtualTopic.<one or more segments>'). */
export function isVirtualTopic(topic: string): boolean {
  return topic.startsWith(`/topic/${VIRTUAL_TOPIC_PREFIX}`) && topic.length > `/topic/${VIRTUAL_TOPIC_PREFIX}`.length;
}
