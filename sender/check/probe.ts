/**
 * PROBE one receiver: connect, ask whether it would take an upload from this
 * host (docs/protocol.md, PROBE), and wait for PROBE_OK or its ERROR. One
 * attempt, no retries: a preflight reports what it finds.
 */
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { encodeControl, PROTOCOL_VERSION, type Message, type ProbeOkMessage } from '../../shared/protocol/messages.js';
import { connectTransport, type ClientTransport, type ServerAddress, type TlsClientOptions } from '../transport.js';
import { SENDER_VERSION } from '../upload.js';

export interface ProbeOptions {
  hostId: string;
  token?: string;
  tls?: TlsClientOptions;
  connectTimeoutMs: number;
  /** How long to wait for the answer once connected. */
  replyTimeoutMs: number;
}

/**
 * PROBE_OK, or throws a NetdumpError: the receiver's ERROR (context
 * fromPeer, retryable as it said) or what went wrong on the way
 * (UNAVAILABLE; AUTH for a server certificate that does not check out).
 */
export async function probeReceiver(server: ServerAddress, options: ProbeOptions): Promise<ProbeOkMessage> {
  let settle!: { resolve: (m: ProbeOkMessage) => void; reject: (e: NetdumpError) => void };
  const answer = new Promise<ProbeOkMessage>((resolve, reject) => { settle = { resolve, reject }; });
  const onMessage = (message: Message) => {
    if (message.type === 'probe_ok') settle.resolve(message);
    else if (message.type === 'error') {
      settle.reject(new NetdumpError(message.code, message.message, {}, { retryable: message.retryable, fromPeer: true }));
    } else settle.reject(new NetdumpError(ErrorCode.PROTOCOL, `unexpected ${message.type.toUpperCase()} from receiver`));
  };
  // A refusal sent as the connection opens (a client certificate not accepted) can beat the connect callback.
  const early: Message[] = [];
  let deliver: (message: Message) => void = (message) => early.push(message);
  let closedEarly: NetdumpError | undefined;
  let onClose: (error: NetdumpError | undefined) => void = (error) => { closedEarly = error ?? new NetdumpError(ErrorCode.UNAVAILABLE, 'receiver closed the connection'); };
  const transport: ClientTransport = await connectTransport(server, {
    onMessage: (message) => deliver(message),
    onClose: (error) => onClose(error),
  }, options.connectTimeoutMs, options.tls);
  deliver = onMessage;
  onClose = (error) => settle.reject(error ?? new NetdumpError(ErrorCode.UNAVAILABLE, 'receiver closed the connection without answering'));
  early.forEach(onMessage);
  if (closedEarly) settle.reject(closedEarly);
  const timer = setTimeout(() => settle.reject(new NetdumpError(ErrorCode.UNAVAILABLE, `no answer within ${options.replyTimeoutMs} ms`)),
    options.replyTimeoutMs);
  try {
    transport.send(encodeControl({
      type: 'probe', protocol: PROTOCOL_VERSION, hostId: options.hostId, token: options.token, senderVersion: SENDER_VERSION,
    })).catch((error: unknown) => settle.reject(error instanceof NetdumpError ? error : new NetdumpError(ErrorCode.UNAVAILABLE, String(error))));
    return await answer;
  } finally {
    clearTimeout(timer);
    transport.close();
  }
}
