/**
 * kdump-send's settings: a config file (/etc/kdump-send.conf, KEY=VALUE lines
 * a shell could source), then KDUMP_SEND_* environment variables, then flags;
 * later ones win. Parsing is apart from I/O so every error names the file
 * and line.
 */
import { badInput } from '../shared/errors.js';

export const CONFIG_KEYS = {
  SERVERS: 'receiver URLs in order of preference, separated by spaces or commas',
  TOKEN_FILE: 'file holding this host\'s upload token',
  HOST_ID: 'name this host is filed under',
  CA_FILE: 'PEM CA that signs the receivers\' certificates',
  CLIENT_CERT: 'PEM client certificate (mutual TLS)',
  CLIENT_KEY: 'PEM key of CLIENT_CERT',
  CONNECT_TIMEOUT: 'seconds to wait for a connection',
  REPLY_TIMEOUT: 'seconds to wait for an answer from a receiver',
  DEADLINE: 'seconds to keep trying receivers before the fallback',
  FALLBACK_DIR: 'save the dump here (kdump-compressed) when no receiver took it',
  CHUNK_PAGES: 'pages per chunk (default: 256, fewer when memory is low)',
  DUMP_LEVEL: 'makedumpfile -d bits (default 31)',
  MMAP: 'read the vmcore through mmap: auto (default: /proc/vmcore, whose read() maps and unmaps every page; any other file with read()), yes, or no (as makedumpfile --non-mmap)',
  LZ4_ACCELERATION: 'lz4 acceleration on the wire, 1 (lz4\'s default: smallest) to 64 (fastest); default 8. Only for chunks sent as lz4 (STORED_PAGES no, or a receiver that does not take stored pages): the receiver stores its own codec, so this changes the bytes sent, not the dump',
  STORED_PAGES: 'auto (default): to a receiver that takes them, send pages compressed as it stores them (LZO, as makedumpfile -l), so it only checks and writes them; no: always lz4, leaving the compressing to the receiver (less CPU here, more there)',
  LOG_ONLY: 'yes: send the kernel log and the first tier (what crash needs to open the dump), then stop; no (default): the whole dump',
  CHECK_AT_BUILD: 'what the install hooks do when kdump-send --check=payload fails on the initrd they build: refuse (default), warn or off',
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export type SenderConfig = Partial<Record<ConfigKey, string>>;

const isKey = (key: string): key is ConfigKey => Object.hasOwn(CONFIG_KEYS, key);

function unquote(value: string, where: string): string {
  const v = value.trim();
  if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) return v.slice(1, -1);
  if (/["'`$\\]/.test(v)) throw badInput(`${where}: quote the value or drop the special characters in ${JSON.stringify(v)}`);
  return v;
}

/** Parses a config file's text; `source` names it in errors. */
export function parseConfig(text: string, source: string): SenderConfig {
  const config: SenderConfig = {};
  text.split('\n').forEach((raw, index) => {
    const where = `${source} line ${index + 1}`;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Z_]+)=(.*)$/.exec(line);
    if (!match) throw badInput(`${where}: expected KEY=VALUE, got ${JSON.stringify(line.slice(0, 80))}`);
    const [, key, value] = match;
    if (!isKey(key)) throw badInput(`${where}: unknown setting ${key} (known: ${Object.keys(CONFIG_KEYS).join(', ')})`);
    config[key] = unquote(value, where);
  });
  return config;
}

/** KDUMP_SEND_<KEY> variables from the environment. */
export function configFromEnv(env: NodeJS.ProcessEnv): SenderConfig {
  const config: SenderConfig = {};
  for (const key of Object.keys(CONFIG_KEYS) as ConfigKey[]) {
    const value = env[`KDUMP_SEND_${key}`];
    if (value !== undefined && value !== '') config[key] = value;
  }
  return config;
}

export function splitServers(value: string): string[] {
  return value.split(/[\s,]+/).filter((s) => s !== '');
}

/** A whole number of seconds (or pages) from a setting, with the setting named on error. */
export function positiveSetting(key: ConfigKey, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw badInput(`${key} (--${key.toLowerCase().replace(/_/g, '-')}) must be an integer from 1 to ${max}, not ${JSON.stringify(value)}`);
  }
  return n;
}
