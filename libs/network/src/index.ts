// @hawser/network: the bridge's pure rules (ActiveMQ's network of brokers): which bridge
// subscriptions should exist for the demand the linked groups report, and whether a message
// may be forwarded into a group (visited list, networkTTL). No I/O, no clock.
export * from './filter';
export * from './headers';
export * from './demand';
