/**
 * Client side of the two transports. Both carry the same messages: TCP as
 * length-prefixed frames, WebSocket as one binary message per frame. The
 * session above never knows which one it is on.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { badInput, NetdumpError, ErrorCode } from '../shared/errors.js';
import { FrameDecoder, framePrefix } from '../shared/protocol/frame-decoder.js';
import { decodeMessage, type Message } from '../shared/protocol/messages.js';

export interface ServerAddress {
  kind: 'tcp' | 'ws';
  url: string;
  host: string;
  port: number;
}

export function parseServerUrl(text: string): ServerAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput(`malformed server URL ${JSON.stringify(text)}: use tcp://HOST:PORT or ws://HOST:PORT/PATH`, { url: text });
  }
  const kind = url.protocol === 'tcp:' ? 'tcp' : url.protocol === 'ws:' ? 'ws' : undefined;
  if (!kind) throw badInput(`unsupported server URL scheme ${url.protocol} in ${text}: use tcp:// or ws://`, { url: text });
  const port = Number(url.port);
  if (!url.hostname || !Number.isInteger(port) || port <= 0) {
    throw badInput(`server URL ${text} needs a host and a port`, { url: text });
  }
  return { kind, url: text, host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

export interface TransportEvents {
  onMessage(message: Message): void;
  onClose(error: NetdumpError | undefined): void;
}

export interface ClientTransport {
  /** Resolves once the bytes are handed to the kernel: the buffers may then be reused. */
  send(message: Buffer, framed?: Buffer): Promise<void>;
  close(): void;
}

const MAX_SERVER_FRAME = 1024 * 1024;

function unreachable(address: ServerAddress, error: Error): NetdumpError {
  return new NetdumpError(ErrorCode.UNAVAILABLE, `cannot reach ${address.url}: ${error.message}`, { url: address.url });
}

export function connectTransport(address: ServerAddress, events: TransportEvents, connectTimeoutMs: number): Promise<ClientTransport> {
  return address.kind === 'tcp' ? connectTcp(address, events, connectTimeoutMs) : connectWs(address, events, connectTimeoutMs);
}

function connectTcp(address: ServerAddress, events: TransportEvents, timeoutMs: number): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    const decoder = new FrameDecoder(MAX_SERVER_FRAME);
    let connected = false;
    let closedWith: NetdumpError | undefined;
    socket.on('data', (data: Buffer) => {
      decoder.push(data);
      try {
        for (let frame = decoder.next(); frame; frame = decoder.next()) events.onMessage(decodeMessage(frame));
      } catch (error) {
        closedWith = error as NetdumpError;
        socket.destroy();
      }
    });
    socket.on('error', (error) => {
      closedWith ??= unreachable(address, error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!connected) reject(closedWith ?? unreachable(address, new Error('connection closed')));
      else events.onClose(closedWith);
    });
    socket.on('connect', () => {
      connected = true;
      clearTimeout(timer);
      resolve({
        send(message, framed) {
          return new Promise<void>((done, fail) => {
            const callback = (error?: Error | null) => (error ? fail(unreachable(address, error)) : done());
            if (framed) socket.write(framed, callback);
            else {
              socket.cork();
              socket.write(framePrefix(message.length));
              socket.write(message, callback);
              socket.uncork();
            }
          });
        },
        close: () => socket.end(),
      });
    });
  });
}

function connectWs(address: ServerAddress, events: TransportEvents, timeoutMs: number): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(address.url, {
      handshakeTimeout: timeoutMs,
      maxPayload: MAX_SERVER_FRAME,
      perMessageDeflate: false,
      // An all-zero mask lets ws skip masking (a copy and XOR of every payload
      // byte). Masking protects browser-era proxies from script-chosen bytes;
      // this client is not a browser and its payloads are not script-chosen.
      generateMask: (mask: Buffer) => { mask.fill(0); },
    });
    let opened = false;
    let closedWith: NetdumpError | undefined;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      try {
        if (!isBinary) throw new NetdumpError(ErrorCode.PROTOCOL, 'server sent a text WebSocket message');
        events.onMessage(decodeMessage(data));
      } catch (error) {
        closedWith = error as NetdumpError;
        ws.terminate();
      }
    });
    ws.on('error', (error) => {
      closedWith ??= unreachable(address, error);
    });
    ws.on('close', () => {
      if (!opened) reject(closedWith ?? unreachable(address, new Error('connection closed')));
      else events.onClose(closedWith);
    });
    ws.on('open', () => {
      opened = true;
      resolve({
        send(message) {
          return new Promise<void>((done, fail) => {
            ws.send(message, { binary: true }, (error) => (error ? fail(unreachable(address, error)) : done()));
          });
        },
        close: () => ws.close(),
      });
    });
  });
}
