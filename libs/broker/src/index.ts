// @hawser/broker: the pure broker core (see core.ts) and the journal it produces (journal.ts).
export * from './types';
export * from './journal';
export { PriorityWindow, StorageQueue, type StoredMessage, type QueueKind } from './queue';
export {
  BrokerCore,
  type CoreOptions, type Recovered, type PageRequest, type PagedMessage, type Outbound, type Ready,
  type DestinationInfo, type DestinationStats, type PurgeResult, type DeleteResult, type BrokenDurable, type Authorizer,
  type SessionInfo, type SessionSubscriptionInfo,
} from './core';
export { SeqMap } from './seq-map';
export { DedupWindow, dedupKey, dedupScope, scopeOfKey, MAX_MESSAGE_ID_BYTES, NETWORK_SCOPE } from './dedup';
export { Usage, messageBytes, NO_FLOW_LIMITS, type FlowLimits, type UsageStats } from './usage';
export {
  parseDestination, parseTemp, isTemp, isComposite, compositeParts, virtualTopicOf, isVirtualTopic, tempOwnerKey, tempDestinationName,
  COMPOSITE_SEPARATOR, VIRTUAL_TOPIC_PREFIX, VIRTUAL_CONSUMER_PREFIX, type DestinationType,
} from './destinations';
export { isPattern, matchesTopic, patternError, PatternTrie, TopicTrie } from './topic-match';
export { RETAIN_HEADER, RETAINED_HEADER, wantsRetain, asRetained, RetainedMessages } from './retained';
