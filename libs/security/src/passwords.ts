// Passwords are stored hashed with scrypt (Node's crypto; memory-hard), never in clear:
//   scrypt$<log2 N>$<r>$<p>$<salt, base64>$<key, base64>
// The parameters travel with the hash, so an operator can raise the cost without breaking
// existing entries. Comparison is constant-time (timingSafeEqual).
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptCost { log2N: number; r: number; p: number }

/** 32 MiB and ~0.1 s per check on a 2-core machine; `hawser passwd --cost` raises it. */
export const DEFAULT_COST: ScryptCost = { log2N: 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;

export class PasswordHashError extends Error {
  readonly code = 'BAD_PASSWORD_HASH';
  constructor(message: string) {
    super(message);
    this.name = 'PasswordHashError';
  }
}

interface Parsed extends ScryptCost { salt: Buffer; key: Buffer }

export function parseHash(stored: string): Parsed {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    throw new PasswordHashError('not a Hawser password hash (scrypt$<log2N>$<r>$<p>$<salt>$<key>): make one with `hawser passwd`; plaintext passwords are not accepted');
  }
  const [log2N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![log2N, r, p].every((n) => Number.isInteger(n) && n > 0) || log2N > 24 || r > 32 || p > 16) {
    throw new PasswordHashError(`password hash has bad scrypt parameters N=2^${parts[1]} r=${parts[2]} p=${parts[3]}`);
  }
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || key.length < 16) throw new PasswordHashError('password hash has a salt or key too short');
  return { log2N, r, p, salt, key };
}

function derive(password: string, salt: Buffer, cost: ScryptCost, bytes: number): Promise<Buffer> {
  const N = 2 ** cost.log2N;
  const opts: ScryptOptions = { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFC'), salt, bytes, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost, KEY_BYTES);
  return ['scrypt', cost.log2N, cost.r, cost.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(stored: string | Parsed, password: string): Promise<boolean> {
  const h = typeof stored === 'string' ? parseHash(stored) : stored;
  const key = await derive(password, h.salt, h, h.key.length);
  return timingSafeEqual(key, h.key);
}
