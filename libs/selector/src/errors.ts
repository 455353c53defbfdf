// Errors of the selector compiler. One class, one code: the broker turns it into the protocol's
// own error (a STOMP ERROR frame for a SUBSCRIBE whose `selector` header does not compile).

export type SelectorErrorCode = 'INVALID_SELECTOR';

/** The bounds a selector must stay within (SelectorLimits); set on errors that exceed one. */
export type SelectorLimitName = 'maxLength' | 'maxDepth' | 'maxInList';

/** How much of the selector a message quotes: an over-long one must not make a huge message. */
const QUOTED = 200;

export class SelectorError extends Error {
  readonly code: SelectorErrorCode = 'INVALID_SELECTOR';
  /** 0-based offset into the selector text (UTF-16 code units); text.length means "at the end". */
  readonly position: number;
  /** The selector text as given. */
  readonly selector: string;
  /** What was wrong, without the position prefix (e.g. "expected a value after '='"). */
  readonly detail: string;
  /** Set when the selector is refused for exceeding a limit rather than for its syntax. */
  readonly limit: SelectorLimitName | undefined;

  constructor(selector: string, position: number, detail: string, limit?: SelectorLimitName) {
    super(`invalid selector at position ${position}: ${detail} in "${quote(selector)}"`);
    this.name = 'SelectorError';
    this.selector = selector;
    this.position = position;
    this.detail = detail;
    this.limit = limit;
  }
}

/** The selector as error messages show it: whole up to 200 characters, else its start. */
export function quote(selector: string): string {
  return selector.length <= QUOTED ? selector : `${selector.slice(0, QUOTED)}... (${selector.length} characters)`;
}
