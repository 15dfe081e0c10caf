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

export interface ConnectionLimits {
  maxFrameBytes: number;
  /**
   * A connection that completes no frame for this long is closed: idle and
   * half-open peers, and slowloris ones that trickle bytes but never finish
   * a frame, all stop holding an upload.
   */
  idleTimeoutMs: number;
}

/** Runs frames through the session strictly one after another, and watches that they keep coming. */
class FramePump {
  private busy = false;
  private ended = false;
  private framesHandled = 0;
  private watchdog?: NodeJS.Timeout;

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
        this.framesHandled++;
      }
    } catch (error) {
      await this.session.fail(toNetdumpError(error));
    } finally {
      this.busy = false;
      if (!this.ended) this.resume();
    }
  }

  /** Fails the session when no frame completes within `timeoutMs` (checked every half period). */
  watch(timeoutMs: number): void {
    let seen = -1;
    let stalledSince = Date.now();
    this.watchdog = setInterval(() => {
      if (this.framesHandled !== seen || this.busy) {
        seen = this.framesHandled;
        stalledSince = Date.now();
        return;
      }
      if (Date.now() - stalledSince >= timeoutMs) {
        this.end();
        void this.session.fail(new NetdumpError(ErrorCode.UNAVAILABLE, `no complete frame in ${timeoutMs / 1000} s: closing`));
      }
    }, Math.max(10, timeoutMs / 2));
    this.watchdog.unref();
  }

  end(): void {
    this.ended = true;
    clearInterval(this.watchdog);
  }
}

/**
 * `refusal`: the connection may not upload at all (e.g. its client
 * certificate was not accepted); it gets that ERROR and is closed.
 */
export function serveTcpConnection(socket: Socket, createSession: SessionFactory, limits: ConnectionLimits, refusal?: NetdumpError): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 15_000);
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
  const decoder = new FrameDecoder(limits.maxFrameBytes, true);
  const pump = new FramePump(session, () => decoder.next(), () => socket.pause(), () => socket.resume());
  pump.watch(limits.idleTimeoutMs);
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

export function serveWsConnection(ws: WebSocket, remote: string, createSession: SessionFactory, limits: ConnectionLimits, refusal?: NetdumpError): void {
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
  pump.watch(limits.idleTimeoutMs);
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
