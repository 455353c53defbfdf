#!/usr/bin/env node
// hawser: the command line of Hawser. Dispatches to one command, and is the one boundary
// where failures become an exit code (0 ok, 1 failed, 2 usage, 3 unreachable) and ONE
// line on stderr — never a stack trace (set HAWSER_DEBUG=1 to see the cause).
import { helpText, parseArgs } from './args';
import { EXIT, toCliError, UsageError } from './errors';
import { processIo, type Command, type Io } from './io';
import { send, receive } from './messaging';
import { browse, purge, del, destinations, sessions, useTlsArgs } from './admin';
import { status } from './status';
import { bench } from './bench';
import { activemq } from './activemq';
import { certs } from './certs';
import { passwd } from './passwd';
import { group } from './group';

export const COMMANDS: readonly Command[] = [send, receive, browse, purge, del, destinations, sessions, status, group, bench, activemq, certs, passwd];

export function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.spec.name.length));
  return [
    'Usage: hawser <command> [arguments] [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(w)}  ${c.spec.summary}`),
    '',
    'Run `hawser <command> --help` for its options.',
    'Exit status: 0 ok, 1 the operation failed, 2 usage error, 3 broker/store/coordinator unreachable.',
    '',
  ].join('\n');
}

/** Runs one command line; resolves with the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    if (name === 'help' && rest[0]) return runCli([rest[0], '--help'], io);
    io.out(mainHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.spec.name === name);
  try {
    if (!command) throw new UsageError(`unknown command '${name}' (commands: ${COMMANDS.map((c) => c.spec.name).join(', ')})`);
    const args = parseArgs(command.spec, rest);
    if (args.help) {
      io.out(helpText(command.spec));
      return EXIT.ok;
    }
    if (command.spec.options.some((o) => o.name === 'tls.ca')) useTlsArgs(args);
    return await command.run(args, io);
  } catch (err) {
    const e = toCliError(err);
    const helpFor = e instanceof UsageError ? e.command ?? command?.spec.name : undefined;
    const hint = e instanceof UsageError ? ` (see hawser ${helpFor ? `${helpFor} ` : ''}--help)` : '';
    io.err(`hawser${command ? ` ${command.spec.name}` : ''}: ${e.message}${hint}\n`);
    if (process.env.HAWSER_DEBUG === '1' && e.cause instanceof Error) io.err(`${e.cause.stack}\n`);
    return e.exitCode;
  }
}

/** Runs the CLI on process.argv and exits with its code (bin/hawser.js calls this). */
export function main(): void {
  const io = processIo();
  // `hawser receive ... | head -1` closes our stdout: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); });
  runCli(process.argv.slice(2), io).then((code) => {
    // Let stdout drain, then exit: a lingering socket or timer must not keep the CLI alive.
    process.exitCode = code;
    if (process.stdout.writableNeedDrain) process.stdout.once('drain', () => process.exit(code));
    else setImmediate(() => process.exit(code));
  }, (err) => {
    process.stderr.write(`hawser: internal error: ${(err as Error).message}\n`);
    process.exit(EXIT.failed);
  });
}

if (require.main === module) main();
