/**
 * Server side of the two transports. Each turns its connection into a
 * SessionPeer and feeds frames to the session one at a time, pausing the
 * socket while a frame is being handled so a slow disk slows the sender
 * instead of filling our memory.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { FrameDecoder, framePrefix } from '../../shared/protocol/frame-decoder.js';
import { NetdumpError, ErrorCode, toNetdumpError } from '../../shared/errors.js';
import type { SessionPeer, UploadSession } from './upload-session.js';
import type { ConnectionTicket } from './connection-guard.js';

export type SessionFactory = (peer: SessionPeer) => UploadSession;

/**
 * How a connection was let in (receiver/ingest/connection-guard.ts): with a ticket
 * that holds its place and its first frame's bytes, or with the refusal it is
 * sent before it is closed (busy, or a client certificate not accepted).
 */
export type Admission = { ticket: ConnectionTicket; refusal?: undefined } | { refusal: NetdumpError; ticket?: ConnectionTicket };

/**
 * After our last word (DONE, or an ERROR) a peer gets this long to read it and
 * close; then the socket is destroyed, so one that never reads holds no file
 * descriptor and no buffers.
 */
const CLOSE_GRACE_MS = 5_000;

export interface ConnectionLimits {
  maxFrameBytes: number;
  /**
   * A connection that completes no frame for this long is closed: idle and
   * half-open peers, and slowloris ones that trickle bytes but never finish
   * a frame, all stop holding an upload.
   */
  idleTimeoutMs: number;
}

interface PumpParts {
  session: UploadSession;
  nextFrame: () => Buffer | null;
  pause: () => void;
  resume: () => void;
  /** Called once the connection's first frame (its HELLO or PROBE) has been handled. */
  firstFrameHandled: () => void;
}

/** Runs frames through the session strictly one after another, and watches that they keep coming. */
class FramePump {
  private busy = false;
  private ended = false;
  private framesHandled = 0;
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly parts: PumpParts) {}

  async run(): Promise<void> {
    if (this.busy || this.ended) return;
    const { session, nextFrame } = this.parts;
    this.busy = true;
    this.parts.pause();
    try {
      for (let frame = nextFrame(); frame && !this.ended; frame = nextFrame()) {
        await session.handleFrame(frame);
        if (this.framesHandled++ === 0) this.parts.firstFrameHandled();
      }
    } catch (error) {
      await session.fail(toNetdumpError(error));
    } finally {
      this.busy = false;
      if (!this.ended) this.parts.resume();
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
        void this.parts.session.fail(new NetdumpError(ErrorCode.UNAVAILABLE, `no complete frame in ${timeoutMs / 1000} s: closing`));
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
 * A refused admission gets its ERROR and is closed. Before its first frame is
 * handled, a connection holds the bytes that frame announces from the shared
 * first-frame budget, or is turned away (UNAVAILABLE) when there is no room.
 */
export function serveTcpConnection(socket: Socket, createSession: SessionFactory, limits: ConnectionLimits, admission: Admission): void {
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
    close: () => {
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    },
  });
  socket.on('error', () => {}); // 'close' follows; resets are routine when a sender dies
  socket.on('close', () => admission.ticket?.release());
  if (admission.refusal) {
    void session.fail(admission.refusal);
    return;
  }
  const { ticket } = admission;
  // Frames are handled one at a time and dropped before the next is taken, so one assembly buffer serves them all.
  const decoder = new FrameDecoder(limits.maxFrameBytes, true);
  const pump = new FramePump({
    session, nextFrame: () => decoder.next(), pause: () => socket.pause(), resume: () => socket.resume(),
    firstFrameHandled: () => ticket.firstFrameHandled(),
  });
  pump.watch(limits.idleTimeoutMs);
  let firstFrameHeld = false;
  socket.on('data', (data: Buffer) => {
    decoder.push(data);
    if (!firstFrameHeld) {
      const length = decoder.announcedLength();
      // Oversized frames are the decoder's to refuse (LIMIT), not the budget's.
      if (length !== undefined && length <= limits.maxFrameBytes) {
        const refusal = ticket.reserveFirstFrame(length);
        if (refusal) {
          pump.end();
          socket.pause();
          void session.fail(refusal);
          return;
        }
        firstFrameHeld = true;
      }
    }
    void pump.run();
  });
  socket.on('close', () => {
    pump.end();
    void session.release();
  });
}

/**
 * WebSocket messages arrive whole (ws buffers each up to maxPayload), so the
 * caller reserved maxFrameBytes of the first-frame budget for this connection
 * before the upgrade; it is given back once the first message is handled.
 */
export function serveWsConnection(ws: WebSocket, remote: string, createSession: SessionFactory, limits: ConnectionLimits, admission: Admission): void {
  const queue: Buffer[] = [];
  const session = createSession({
    remote,
    transport: 'ws',
    send: (message) => new Promise<void>((resolve, reject) => {
      ws.send(message, { binary: true }, (error) => (error ? reject(error) : resolve()));
    }),
    close: () => {
      ws.close(1000);
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    },
  });
  ws.on('error', () => {}); // e.g. maxPayload exceeded: ws closes with 1009 and 'close' follows
  ws.on('close', () => admission.ticket?.release());
  if (admission.refusal) {
    void session.fail(admission.refusal);
    return;
  }
  const { ticket } = admission;
  const pump = new FramePump({
    session, nextFrame: () => queue.shift() ?? null, pause: () => ws.pause(), resume: () => ws.resume(),
    firstFrameHandled: () => ticket.firstFrameHandled(),
  });
  pump.watch(limits.idleTimeoutMs);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      void session.fail(new NetdumpError(ErrorCode.PROTOCOL, 'text WebSocket message; the protocol is binary'));
      return;
    }
    queue.push(data);
    void pump.run();
  });
  ws.on('close', () => {
    pump.end();
    void session.release();
  });
}
