// Scenario 1 over STOMP/WebSocket: the subset marked `ws` through @hawser/client.
import { defineMessagingSuite } from './messaging';

defineMessagingSuite('ws');
