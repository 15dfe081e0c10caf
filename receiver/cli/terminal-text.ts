/**
 * Peer-supplied text made safe for an operator's terminal. A sender chooses
 * strings the CLI prints (the dump level notes, say); an ESC or CSI in them
 * could move the cursor, retitle the window or hide lines. Every C0 control
 * (newline and tab included: one field stays one line), DEL and every C1
 * control becomes a visible \xHH escape.
 */

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

const hex = (c: string) => c.charCodeAt(0).toString(16).padStart(2, '0');

/** `text` with each control character replaced by `\xHH` (ESC is `\x1b`). */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${hex(c)}`);
}

/**
 * JSON for a terminal: JSON.stringify already escapes C0 controls, but
 * writes DEL and C1 controls raw. Those become \u00HH escapes, so the text
 * stays valid JSON and parses back to the same values.
 */
export function jsonForTerminal(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f]/g, (c) => `\\u00${hex(c)}`);
}
