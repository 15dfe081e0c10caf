/**
 * Client side of the two transports. Both carry the same messages: TCP as
 * length-prefixed frames, WebSocket as one binary message per frame; each
 * plain (tcp://, ws://) or over TLS (tls://, wss://). The session above
 * never knows which one it is on.
 */
import net from 'node:net';
import type tls from 'node:tls';
import type WebSocket from 'ws';
import { badInput, NetdumpError, ErrorCode } from '../shared/errors.js';
import { FrameDecoder, framePrefix } from '../shared/protocol/frame-decoder.js';
import { decodeMessage, type Message } from '../shared/protocol/messages.js';

export interface ServerAddress {
  kind: 'tcp' | 'ws';
  /** tls:// or wss://: the server's certificate is verified against the CA file, or the system's CAs. */
  tls: boolean;
  url: string;
  host: string;
  port: number;
}

/** PEM material for TLS: the CA that signs the receiver's certificate; a client certificate for mutual TLS. */
export interface TlsClientOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

const SCHEMES: Record<string, { kind: 'tcp' | 'ws'; tls: boolean }> = {
  'tcp:': { kind: 'tcp', tls: false },
  'tls:': { kind: 'tcp', tls: true },
  'ws:': { kind: 'ws', tls: false },
  'wss:': { kind: 'ws', tls: true },
};

export function parseServerUrl(text: string): ServerAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput(`malformed server URL ${JSON.stringify(text)}: use tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH`, { url: text });
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme) throw badInput(`unsupported server URL scheme ${url.protocol} in ${text}: use tcp://, tls://, ws:// or wss://`, { url: text });
  const port = Number(url.port);
  if (!url.hostname || !Number.isInteger(port) || port <= 0) {
    throw badInput(`server URL ${text} needs a host and a port`, { url: text });
  }
  return { ...scheme, url: text, host: url.hostname.replace(/^\[|\]$/g, ''), port };
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

/** OpenSSL/Node codes that mean "the certificates do not check out", not "the network failed". */
const CERTIFICATE_FAILURE = /CERT|SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|ALTNAME|ALERT_(BAD_CERTIFICATE|CERTIFICATE|UNKNOWN_CA|HANDSHAKE)/;

function unreachable(address: ServerAddress, error: Error): NetdumpError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (address.tls && CERTIFICATE_FAILURE.test(code)) {
    // Retrying cannot fix a certificate: say what to check and stop.
    return new NetdumpError(ErrorCode.AUTH, `TLS with ${address.url} failed: ${error.message} (${code}); check --ca-file and the client certificate`, {
      url: address.url,
    });
  }
  return new NetdumpError(ErrorCode.UNAVAILABLE, `cannot reach ${address.url}: ${error.message}`, { url: address.url });
}

export async function connectTransport(
  address: ServerAddress, events: TransportEvents, connectTimeoutMs: number, tlsOptions: TlsClientOptions = {},
): Promise<ClientTransport> {
  // node:tls (and the crypto it sets up) loads only for tls:// and wss://: a capture kernel's start-up pays for what it uses.
  const tlsModule = address.tls ? (await import('node:tls')).default : undefined;
  return address.kind === 'tcp'
    ? connectTcp(address, events, connectTimeoutMs, tlsOptions, tlsModule)
    : connectWs(address, events, connectTimeoutMs, tlsOptions, tlsModule);
}

function connectTcp(
  address: ServerAddress, events: TransportEvents, timeoutMs: number, tlsOptions: TlsClientOptions, tlsModule: typeof tls | undefined,
): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = tlsModule
      ? tlsModule.connect({ host: address.host, port: address.port, servername: net.isIP(address.host) ? undefined : address.host, ...tlsOptions })
      : net.connect({ host: address.host, port: address.port });
    socket.setNoDelay(true);
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
    socket.on(tlsModule ? 'secureConnect' : 'connect', () => {
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

/** ws (and the http, https and crypto it brings) is loaded only for a ws:// or wss:// receiver: a capture kernel's start-up pays for what it uses. */
async function connectWs(
  address: ServerAddress, events: TransportEvents, timeoutMs: number, tlsOptions: TlsClientOptions, tlsModule: typeof tls | undefined,
): Promise<ClientTransport> {
  const { default: WebSocket } = await import('ws');
  return new Promise((resolve, reject) => {
    // ws reports a TLS alert that arrives after the handshake (TLS 1.3 refusing
    // our client certificate) as "socket hang up"; keep the TLS socket's own error.
    let tlsError: Error | undefined;
    const ws = new WebSocket(address.url, {
      ...tlsOptions,
      ...(tlsModule && {
        // ws's own tlsConnect does the same, plus this error hook (ws's types name net's signature).
        createConnection: ((options: tls.ConnectionOptions) => {
          const host = options.host ?? '';
          const socket = tlsModule.connect({ ...options, path: undefined, servername: options.servername ?? (net.isIP(host) ? '' : host) } as tls.ConnectionOptions);
          socket.once('error', (error) => { tlsError ??= error; });
          return socket;
        }) as unknown as typeof net.createConnection,
      }),
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
      closedWith ??= unreachable(address, tlsError ?? error);
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
