// What a command may touch of the outside world: its output streams and stdin. main.ts
// passes the process's; specs pass buffers, so commands run in-process under test.
import { connect, connectFailover, type ConnectOptions, type FailoverClient, type StompClient } from '@hawser/client';
import type { Readable } from 'node:stream';
import type { CommandSpec, OptionSpec, ParsedArgs } from './args';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  stdin: Readable;
  /** stderr is a terminal: progress lines redraw in place. */
  stderrIsTTY: boolean;
}

export interface Command {
  spec: CommandSpec;
  /** Resolves with the exit code; throws CliError (or anything, mapped by toCliError). */
  run(args: ParsedArgs, io: Io): Promise<number>;
}

/** Io over the real process. */
export function processIo(): Io {
  return {
    out: (t) => { process.stdout.write(t); },
    err: (t) => { process.stderr.write(t); },
    stdin: process.stdin,
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
}

/** Io into strings, for specs. */
export function bufferIo(stdin?: Readable): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => { out += t; },
    err: (t) => { err += t; },
    stdin: stdin ?? (undefined as unknown as Readable),
    stderrIsTTY: false,
    stdout: () => out,
    stderr: () => err,
  };
}

/** Options shared by every STOMP command. */
export const STOMP_OPTIONS: OptionSpec[] = [
  { name: 'uri', type: 'string', default: 'stomp://127.0.0.1:61613', arg: 'uri', help: 'broker URI: stomp://, stomp+ssl://, ws://, wss:// or failover:(...)' },
  { name: 'login', type: 'string', arg: 'user', help: 'STOMP login' },
  { name: 'passcode', type: 'string', arg: 'secret', help: 'STOMP passcode' },
  { name: 'connect-timeout', type: 'int', default: 5000, min: 1, arg: 'ms', help: 'give up connecting after this long' },
];

/** A plain connection or a failover one: the CLI uses what both offer. */
export type BrokerClient = StompClient | FailoverClient;

/**
 * ActiveMQ's default startupMaxReconnectAttempts is -1 (retry forever): right for a service,
 * wrong for a command that should say "unreachable". Unless the URI sets it, the CLI gives
 * up after this many failed passes over the URI list before the first connection.
 */
export const CLI_STARTUP_RECONNECT_ATTEMPTS = 2;

/** Connects with the shared STOMP options; errors are mapped to exit codes by main. */
export function connectWith(args: ParsedArgs, extra: ConnectOptions = {}): Promise<BrokerClient> {
  const uri = args.str('uri')!;
  const login = args.str('login');
  const passcode = args.str('passcode');
  const options: ConnectOptions = {
    connectTimeoutMs: args.int('connect-timeout'),
    ...(login !== undefined ? { login } : {}),
    ...(passcode !== undefined ? { passcode } : {}),
    ...extra,
  };
  if (/^\s*failover:/i.test(uri)) {
    const startupSet = /[?&]startupMaxReconnectAttempts=/i.test(uri);
    return connectFailover(uri, { ...options, ...(startupSet ? {} : { failover: { startupMaxReconnectAttempts: CLI_STARTUP_RECONNECT_ATTEMPTS } }) });
  }
  return connect(uri, options);
}

/** Reads a whole stream (stdin for `hawser send <dest> -`). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}
