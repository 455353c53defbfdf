// @hawser/selector: JMS message selectors (JMS 1.1 section 3.8.1.1) with ActiveMQ's semantics,
// compiled to closures. Pure: no I/O. See README.md for the language and the coercion rules.
export { compileSelector, DEFAULT_SELECTOR_LIMITS } from './compile';
export type { Selector, SelectorMessage, SelectorLimits } from './compile';
export { SelectorError } from './errors';
export type { SelectorErrorCode, SelectorLimitName } from './errors';
export { LikePattern } from './like';
