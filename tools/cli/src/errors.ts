// Errors of the hawser CLI and the exit codes scripts rely on. Every failure becomes one
// of these at the command boundary (main.ts), printed as ONE line, never a stack trace.
import { StompClientError, StompServerError } from '@hawser/client';
import { grpc } from '@hawser/proto';

/** Exit codes: documented in README.md, relied on by scripts. */
export const EXIT = {
  ok: 0,
  /** The operation ran and failed: timeout, lost messages in bench, server ERROR, ... */
  failed: 1,
  /** Bad command line: unknown option, missing argument, malformed URI. */
  usage: 2,
  /** The broker (or store, or coordinator) could not be reached at all. */
  unreachable: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export type CliErrorCode = 'USAGE' | 'FAILED' | 'UNREACHABLE';

export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: ExitCode;
  constructor(code: CliErrorCode, exitCode: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** The command line is wrong (exit 2). `command` names the command whose --help to read. */
export class UsageError extends CliError {
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super('USAGE', EXIT.usage, message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** The operation failed (exit 1). */
export class OperationError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FAILED', EXIT.failed, message, options);
    this.name = 'OperationError';
  }
}

/** Nothing answers at the address (exit 3). */
export class UnreachableError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNREACHABLE', EXIT.unreachable, message, options);
    this.name = 'UnreachableError';
  }
}

/** One line, whatever the message held (server ERROR bodies may span lines). */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** "broker refused: <message>" plus the ERROR body when it says more than the message. */
export function serverErrorText(err: StompServerError): string {
  const details = err.details.trim();
  const extra = details && !details.includes(err.serverMessage) ? ` (${details.slice(0, 300)})` : '';
  return `broker refused: ${err.serverMessage}${extra}`;
}

/**
 * Maps anything thrown by a command to a CliError: the STOMP client's typed errors by code,
 * gRPC statuses by code (UNAVAILABLE = unreachable), anything else = operation failed.
 */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof StompClientError) {
    switch (err.code) {
      case 'INVALID_URI':
        return new UsageError(oneLine(err.message));
      case 'CONNECTION_FAILED':
      case 'CONNECT_TIMEOUT':
      case 'RECONNECT_FAILED': // failover: every URI failed for the allowed passes
        return new UnreachableError(`broker unreachable: ${oneLine(err.message)}`, { cause: err });
      case 'SERVER_ERROR':
        return new OperationError(oneLine(err instanceof StompServerError ? serverErrorText(err) : err.message), { cause: err });
      default:
        return new OperationError(oneLine(err.message), { cause: err });
    }
  }
  const grpcCode = (err as { code?: unknown } | null)?.code;
  if (err instanceof Error && typeof grpcCode === 'number' && 'details' in err) {
    const details = oneLine(String((err as { details?: unknown }).details ?? err.message));
    if (grpcCode === grpc.status.UNAVAILABLE) return new UnreachableError(details, { cause: err });
    return new OperationError(`${grpc.status[grpcCode] ?? grpcCode}: ${details}`, { cause: err });
  }
  if (err instanceof Error) return new OperationError(oneLine(err.message), { cause: err });
  return new OperationError(oneLine(String(err)));
}
