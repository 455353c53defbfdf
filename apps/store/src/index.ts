// @hawser/store as a library (tests, tools): the Store shell and its parts.
export { Store, type StoreDeps } from './store';
export { schema, validate, fsyncFor, SYNC_MODES, type Config } from './config';
export { RocksJournal, keys } from './journal';
export { encodeEntry, decodeEntry, encodeMessage, decodeMessage } from './codec';
