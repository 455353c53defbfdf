// Scenario 1 over STOMP/TCP: every broker-semantics scenario through @hawser/client.
import { defineMessagingSuite } from './messaging';

defineMessagingSuite('tcp');
