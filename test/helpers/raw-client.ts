/**
 * A hand-driven protocol client for tests that must send what a correct
 * sender never would: garbage, out-of-order chunks, bad checksums.
 */
import net from 'node:net';
import { FrameDecoder, framePrefix } from '../../shared/protocol/frame-decoder.js';
import { decodeMessage, type Message } from '../../shared/protocol/messages.js';

export class RawClient {
  readonly messages: Message[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder(16 * 2 ** 20);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => {
      this.decoder.push(data);
      for (let frame = this.decoder.next(); frame; frame = this.decoder.next()) this.messages.push(decodeMessage(frame));
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.on('close', () => { this.wake(); resolve(); }));
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Sends one message (type byte + body) with its length prefix. */
  sendMessage(message: Buffer): void {
    this.socket.write(Buffer.concat([framePrefix(message.length), message]));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves with the first message of `type` (waiting up to timeoutMs), or throws. */
  async next<T extends Message['type']>(type: T, timeoutMs = 10_000): Promise<Extract<Message, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.type === type);
      if (found) return found as Extract<Message, { type: T }>;
      if (this.socket.destroyed || Date.now() > deadline) {
        throw new Error(`no ${type} message; got ${JSON.stringify(this.messages.map((m) => m.type))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
