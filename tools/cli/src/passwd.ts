// `hawser passwd <login>`: a line for the gateways' users file (auth.usersFile), with the
// password hashed by scrypt — the file never holds a password in clear (docs/security.md).
// The password comes from stdin (its first line), so it stays out of the shell history and
// the process list.
import { hashPassword, DEFAULT_COST } from '@hawser/security';
import { UsageError } from './errors';
import { readAll, type Command } from './io';

export const passwd: Command = {
  spec: {
    name: 'passwd',
    summary: 'Print a users-file line (login=<scrypt hash>) for a password read from stdin.',
    positionals: [{ name: 'login', required: true, help: 'the user\'s login (no "=", no spaces)' }],
    options: [
      { name: 'cost', type: 'int', default: DEFAULT_COST.log2N, min: 10, arg: 'log2N', help: 'scrypt cost N = 2^log2N (memory 128 * N * 8 bytes per check; 15 = 32 MiB, ~0.1 s)' },
    ],
    details: 'Append the line to the file named by auth.usersFile (the gateway re-reads it within a second).',
    examples: [
      "printf '%s\\n' 's3cret' | hawser passwd ann >> users.properties",
    ],
  },
  async run(args, io) {
    const login = args.positionals[0]!;
    if (!/^[^\s=:#!]+$/.test(login)) throw new UsageError(`login ${JSON.stringify(login)}: no spaces, '=', ':', '#' or '!'`, 'passwd');
    const cost = args.int('cost')!;
    if (cost > 20) throw new UsageError(`--cost ${cost}: at most 20 (2^20 = 1 GiB of memory per login check)`, 'passwd');
    const input = (await readAll(io.stdin)).toString('utf8');
    const password = input.split(/\r?\n/)[0] ?? '';
    if (password === '') throw new UsageError('no password on stdin: pipe it in, e.g. printf \'%s\\n\' "$PASSWORD" | hawser passwd ann', 'passwd');
    io.out(`${login}=${await hashPassword(password, { ...DEFAULT_COST, log2N: cost })}\n`);
    return 0;
  },
};
