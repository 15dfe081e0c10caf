import { describe, expect, it } from 'vitest';
import { escapeControls, jsonForTerminal } from '../../receiver/cli/terminal-text.js';

describe('terminal-safe peer text', () => {
  it('escapes every C0 control (newline and tab too), DEL and C1, and nothing else', () => {
    expect(escapeControls('a\x1b[2Jb')).toBe('a\\x1b[2Jb');
    expect(escapeControls('\x00\t\n\r\x07\x7f')).toBe('\\x00\\x09\\x0a\\x0d\\x07\\x7f');
    expect(escapeControls('\u0080 \u009b31m')).toBe('\\x80 \\x9b31m');
    const printable = 'kept <b>slab</b> pages ± ü 6.12 "quoted" \\x1b';
    expect(escapeControls(printable)).toBe(printable);
  });

  it('gives JSON with no raw control character that parses back to the same values', () => {
    const value = { notes: ['\x1b[31m', 'a\nb', '\u009b\u007f', 'plain ±'] };
    const text = jsonForTerminal(value);
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(text).toContain('\\u009b\\u007f');
    expect(JSON.parse(text)).toEqual(value);
  });
});
