// STOMP frames as plain data.

export type StompVersion = '1.0' | '1.1' | '1.2';
export const SUPPORTED_VERSIONS: readonly StompVersion[] = ['1.0', '1.1', '1.2'];

export const CLIENT_COMMANDS = [
  'CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT',
] as const;
export const SERVER_COMMANDS = ['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR'] as const;
export type ClientCommand = (typeof CLIENT_COMMANDS)[number];
export type ServerCommand = (typeof SERVER_COMMANDS)[number];
export type StompCommand = ClientCommand | ServerCommand;

/**
 * A frame. Headers keep their order and repeats: STOMP 1.2 says the first occurrence of a
 * repeated header wins, and a proxy must pass the others on unchanged.
 */
export interface StompFrame {
  command: string;
  headers: Array<[name: string, value: string]>;
  body: Buffer;
}

/** The value of the first header named `name`, as STOMP 1.2 reads repeated headers. */
export function getHeader(frame: StompFrame, name: string): string | undefined {
  for (const [k, v] of frame.headers) if (k === name) return v;
  return undefined;
}

export function frame(command: string, headers: Record<string, string | number | undefined> = {}, body: Buffer | string = Buffer.alloc(0)): StompFrame {
  const list: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) list.push([k, String(v)]);
  return { command, headers: list, body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body };
}
