import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configFromEnv, parseConfig, positiveSetting, splitServers } from '../../sender/config.js';
import { catchNetdump } from '../helpers/errors.js';

describe('sender config', () => {
  it('reads KEY=VALUE lines, quotes, export, comments and blank lines', () => {
    const config = parseConfig([
      '# kdump-send settings',
      'SERVERS="tls://dumps1:7341 wss://dumps2:7342/upload"',
      'export HOST_ID=web-042',
      '',
      "TOKEN_FILE='/etc/kdump-send/token'",
      'DEADLINE=300',
    ].join('\n'), '/etc/kdump-send.conf');
    expect(config).toEqual({
      SERVERS: 'tls://dumps1:7341 wss://dumps2:7342/upload', HOST_ID: 'web-042', TOKEN_FILE: '/etc/kdump-send/token', DEADLINE: '300',
    });
    expect(splitServers(config.SERVERS!)).toEqual(['tls://dumps1:7341', 'wss://dumps2:7342/upload']);
    expect(splitServers('tcp://a:1,tcp://b:2 , tcp://c:3')).toEqual(['tcp://a:1', 'tcp://b:2', 'tcp://c:3']);
  });

  it('names the file and line of what it cannot take', () => {
    const unknown = catchNetdump(() => parseConfig('HOST_ID=a\nSERVER=tcp://x:1\n', 'my.conf'));
    expect(unknown.code).toBe('BAD_INPUT');
    expect(unknown.message).toMatch(/^my\.conf line 2: unknown setting SERVER \(known: SERVERS, /);
    expect(catchNetdump(() => parseConfig('just words', 'c')).message).toMatch(/^c line 1: expected KEY=VALUE/);
    expect(catchNetdump(() => parseConfig('HOST_ID=$(hostname)', 'c')).message).toMatch(/^c line 1: quote the value/);
  });

  it('the example in deploy/ parses', () => {
    const example = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/kdump-send.conf.example');
    const config = parseConfig(readFileSync(example, 'utf8'), example);
    expect(splitServers(config.SERVERS!)).toHaveLength(2);
    expect(config).toMatchObject({ TOKEN_FILE: '/etc/kdump-send/token', FALLBACK_DIR: '/var/crash', DEADLINE: '600' });
  });

  it('takes KDUMP_SEND_* from the environment, ignoring empty ones', () => {
    expect(configFromEnv({ KDUMP_SEND_SERVERS: 'tcp://a:1', KDUMP_SEND_HOST_ID: '', PATH: '/bin' })).toEqual({ SERVERS: 'tcp://a:1' });
  });

  it('checks numbers and names the setting and its flag', () => {
    expect(positiveSetting('DEADLINE', '30', 100)).toBe(30);
    expect(catchNetdump(() => positiveSetting('CONNECT_TIMEOUT', '0', 100)).message)
      .toBe('CONNECT_TIMEOUT (--connect-timeout) must be an integer from 1 to 100, not "0"');
  });
});
