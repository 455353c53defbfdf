// Errors of the selector compiler. One class, one code: the broker turns it into the protocol's
// own error (a STOMP ERROR frame for a SUBSCRIBE whose `selector` header does not compile).

export type SelectorErrorCode = 'INVALID_SELECTOR';

export class SelectorError extends Error {
  readonly code: SelectorErrorCode = 'INVALID_SELECTOR';
  /** 0-based offset into the selector text (UTF-16 code units); text.length means "at the end". */
  readonly position: number;
  /** The selector text as given. */
  readonly selector: string;
  /** What was wrong, without the position prefix (e.g. "expected a value after '='"). */
  readonly detail: string;

  constructor(selector: string, position: number, detail: string) {
    super(`invalid selector at position ${position}: ${detail} in "${selector}"`);
    this.name = 'SelectorError';
    this.selector = selector;
    this.position = position;
    this.detail = detail;
  }
}
