/**
 * Server side of the two transports. Each turns its connection into a
 * SessionPeer and feeds frames to the session one at a time, pausing the
 * socket while a frame is being handled so a slow disk slows the sender
 * instead of filling our memory.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { FrameDecoder, framePrefix } from '../shared/protocol/frame-decoder.js';
import { NetdumpError, ErrorCode, toNetdumpError } from '../shared/errors.js';
import type { SessionPeer, UploadSession } from './upload-session.js';

export type SessionFactory = (peer: SessionPeer) => UploadSession;

/** Runs frames through the session strictly one after another. */
class FramePump {
  private busy = false;
  private ended = false;

  constructor(
    private readonly session: UploadSession,
    private readonly nextFrame: () => Buffer | null,
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {}

  async run(): Promise<void> {
    if (this.busy || this.ended) return;
    this.busy = true;
    this.pause();
    try {
      for (let frame = this.nextFrame(); frame && !this.ended; frame = this.nextFrame()) {
        await this.session.handleFrame(frame);
      }
    } catch (error) {
      await this.session.fail(toNetdumpError(error));
    } finally {
      this.busy = false;
      if (!this.ended) this.resume();
    }
  }

  end(): void {
    this.ended = true;
  }
}

/**
 * `refusal`: the connection may not upload at all (e.g. its client
 * certificate was not accepted); it gets that ERROR and is closed.
 */
export function serveTcpConnection(socket: Socket, createSession: SessionFactory, maxFrameBytes: number, refusal?: NetdumpError): void {
  socket.setNoDelay(true);
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
  const session = createSession({
    remote,
    transport: 'tcp',
    send: (message) => new Promise<void>((resolve, reject) => {
      if (socket.destroyed) return reject(new NetdumpError(ErrorCode.UNAVAILABLE, 'connection closed'));
      socket.cork();
      socket.write(framePrefix(message.length));
      socket.write(message, (error) => (error ? reject(error) : resolve()));
      socket.uncork();
    }),
    close: () => socket.end(),
  });
  // Frames are handled one at a time and dropped before the next is taken, so one assembly buffer serves them all.
  if (refusal) {
    socket.on('error', () => {});
    void session.fail(refusal);
    return;
  }
  const decoder = new FrameDecoder(maxFrameBytes, true);
  const pump = new FramePump(session, () => decoder.next(), () => socket.pause(), () => socket.resume());
  socket.on('data', (data: Buffer) => {
    decoder.push(data);
    void pump.run();
  });
  socket.on('error', () => {}); // 'close' follows; resets are routine when a sender dies
  socket.on('close', () => {
    pump.end();
    void session.release();
  });
}

export function serveWsConnection(ws: WebSocket, remote: string, createSession: SessionFactory, refusal?: NetdumpError): void {
  const queue: Buffer[] = [];
  const session = createSession({
    remote,
    transport: 'ws',
    send: (message) => new Promise<void>((resolve, reject) => {
      ws.send(message, { binary: true }, (error) => (error ? reject(error) : resolve()));
    }),
    close: () => ws.close(1000),
  });
  if (refusal) {
    ws.on('error', () => {});
    void session.fail(refusal);
    return;
  }
  const pump = new FramePump(session, () => queue.shift() ?? null, () => ws.pause(), () => ws.resume());
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      void session.fail(new NetdumpError(ErrorCode.PROTOCOL, 'text WebSocket message; the protocol is binary'));
      return;
    }
    queue.push(data);
    void pump.run();
  });
  ws.on('error', () => {}); // e.g. maxPayload exceeded: ws closes with 1009 and 'close' follows
  ws.on('close', () => {
    pump.end();
    void session.release();
  });
}
