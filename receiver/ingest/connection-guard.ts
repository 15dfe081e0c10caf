/**
 * Admission of upload connections (TCP and WebSocket alike), before any token
 * is read. A token travels inside the first frame, so until that frame is
 * handled a connection is a stranger's; what strangers may make the receiver
 * hold is bounded here:
 *   - connections open at once, in all and from one address;
 *   - bytes of first frames being assembled, across all connections: a real
 *     HELLO is kilobytes (megabytes for thousands of CPUs), so the budget is
 *     shared rather than one 16 MiB frame per connection.
 *     Frames over LARGE_FIRST_FRAME share at most half of it: strangers
 *     announcing 16 MiB frames and stalling cannot keep out the kilobyte
 *     HELLOs of the hosts that crashed.
 * A connection turned away gets UNAVAILABLE: a sender tries again later.
 */
import { ErrorCode, NetdumpError } from '../../shared/errors.js';

export interface ConnectionCaps {
  /** Upload connections open at once (TCP and WebSocket together). */
  maxConnections: number;
  /** Of those, from one address. Behind a proxy every sender shares its address: raise it there. */
  maxPerPeer: number;
  /** Bytes of first frames all connections together may be assembling. */
  firstFrameBytes: number;
}

/** A first frame larger than this is a large one (a HELLO with thousands of CPUs' notes, or a stranger's). */
export const LARGE_FIRST_FRAME = 2 ** 20;

export const DEFAULT_CONNECTION_CAPS: ConnectionCaps = {
  maxConnections: 512,
  maxPerPeer: 64,
  firstFrameBytes: 128 * 2 ** 20,
};

/** One admitted connection's hold on the guard; every method is safe to call again. */
export interface ConnectionTicket {
  /** Holds `bytes` of the first-frame budget until firstFrameHandled(); the refusal to send when it has no room. */
  reserveFirstFrame(bytes: number): NetdumpError | undefined;
  firstFrameHandled(): void;
  /** The connection ended: everything it held is given back. */
  release(): void;
}

export class ConnectionGuard {
  private open = 0;
  private readonly perPeer = new Map<string, number>();
  private firstFrameInUse = 0;
  private largeFirstFramesInUse = 0;

  constructor(private readonly caps: ConnectionCaps = DEFAULT_CONNECTION_CAPS) {}

  /** A ticket for a new connection from `address`, or the refusal to send it. */
  admit(address: string): ConnectionTicket | NetdumpError {
    const fromPeer = this.perPeer.get(address) ?? 0;
    if (this.open >= this.caps.maxConnections) {
      return new NetdumpError(ErrorCode.UNAVAILABLE, `receiver busy: ${this.open} connections open (limit ${this.caps.maxConnections})`);
    }
    if (fromPeer >= this.caps.maxPerPeer) {
      return new NetdumpError(ErrorCode.UNAVAILABLE, `receiver busy: ${fromPeer} connections open from ${address} (limit ${this.caps.maxPerPeer} per address)`);
    }
    this.open++;
    this.perPeer.set(address, fromPeer + 1);
    let reserved = 0;
    let released = false;
    const giveBack = () => {
      this.firstFrameInUse -= reserved;
      if (reserved > LARGE_FIRST_FRAME) this.largeFirstFramesInUse -= reserved;
      reserved = 0;
    };
    return {
      reserveFirstFrame: (bytes) => {
        if (released) return new NetdumpError(ErrorCode.UNAVAILABLE, 'connection closed');
        if (reserved > 0) return undefined;
        const large = bytes > LARGE_FIRST_FRAME;
        if (this.firstFrameInUse + bytes > this.caps.firstFrameBytes || (large && this.largeFirstFramesInUse + bytes > this.caps.firstFrameBytes / 2)) {
          return new NetdumpError(ErrorCode.UNAVAILABLE, `receiver busy: no room for a first frame of ${bytes} bytes ` +
            `(the first frames of all connections share ${this.caps.firstFrameBytes}, those over ${LARGE_FIRST_FRAME} half of it)`);
        }
        reserved = bytes;
        this.firstFrameInUse += bytes;
        if (large) this.largeFirstFramesInUse += bytes;
        return undefined;
      },
      firstFrameHandled: giveBack,
      release: () => {
        if (released) return;
        released = true;
        giveBack();
        this.open--;
        const left = (this.perPeer.get(address) ?? 1) - 1;
        if (left > 0) this.perPeer.set(address, left);
        else this.perPeer.delete(address);
      },
    };
  }
}
