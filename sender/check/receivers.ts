/**
 * Would the configured receivers take this host's dump? The same settings
 * a real send uses (SERVERS, HOST_ID, TOKEN_FILE, CA_FILE, client
 * certificate, CONNECT_TIMEOUT), one PROBE per receiver, one line each.
 */
import { ErrorCode, NetdumpError, toNetdumpError } from '../../shared/errors.js';
import { checkHostId } from '../../shared/dump-folders.js';
import type { ProbeOkMessage } from '../../shared/protocol/messages.js';
import { positiveSetting, splitServers, type SenderConfig } from '../config.js';
import { readCredentials } from '../credentials.js';
import { parseServerUrl, type ServerAddress } from '../transport.js';
import { fail, formatBytes, ok, peerText, warn, type Finding } from './findings.js';
import { probeReceiver, type ProbeOptions } from './probe.js';

export interface ReceiverCheckInput {
  config: SenderConfig;
  /** HOST_ID's default: the hostname. */
  defaultHostId: string;
  /** This host's RAM: about the size of its vmcore. */
  ramBytes?: number;
  probe?: (server: ServerAddress, options: ProbeOptions) => Promise<ProbeOkMessage>;
}

const ENROL = (hostId: string) => `enrol this host on the receiver (kdump-receiver token add ${hostId}) and put the token it prints in TOKEN_FILE`;

export async function receiverFindings(input: ReceiverCheckInput): Promise<Finding[]> {
  const { config } = input;
  const findings: Finding[] = [];
  const hostId = config.HOST_ID ?? input.defaultHostId;
  try {
    checkHostId(hostId);
  } catch (error) {
    findings.push(fail('host id', ErrorCode.BAD_INPUT, `${toNetdumpError(error).message}: set HOST_ID (--host-id)`));
  }

  const { token, tls, problems } = readCredentials(config);
  for (const problem of problems) findings.push(fail(problem.topic, ErrorCode.BAD_INPUT, problem.message));
  let connectTimeoutMs = 10_000;
  try {
    if (config.CONNECT_TIMEOUT) connectTimeoutMs = positiveSetting('CONNECT_TIMEOUT', config.CONNECT_TIMEOUT, 86_400) * 1000;
  } catch (error) {
    findings.push(fail('config', ErrorCode.BAD_INPUT, toNetdumpError(error).message));
  }

  const servers: ServerAddress[] = [];
  const urls = splitServers(config.SERVERS ?? '');
  for (const url of urls) {
    try {
      servers.push(parseServerUrl(url));
    } catch (error) {
      findings.push(fail(url, ErrorCode.BAD_INPUT, toNetdumpError(error).message));
    }
  }
  if (urls.length === 0) {
    findings.push(config.FALLBACK_DIR
      ? warn('receivers', `none configured: dumps would only be saved to FALLBACK_DIR ${config.FALLBACK_DIR} in the capture kernel`)
      : fail('receivers', ErrorCode.BAD_INPUT, 'none configured: pass --server URL, or set SERVERS in the config file or KDUMP_SEND_SERVERS'));
  }

  const probe = input.probe ?? probeReceiver;
  const options: ProbeOptions = { hostId, token, tls, connectTimeoutMs, replyTimeoutMs: connectTimeoutMs };
  const answers = await Promise.all(servers.map((server) => probe(server, options).then(
    (answer) => ({ answer }), (error: unknown) => ({ error: toNetdumpError(error, ErrorCode.UNAVAILABLE) }))));
  servers.forEach((server, i) => {
    const result = answers[i];
    findings.push('answer' in result
      ? accepted(server.url, hostId, result.answer, input.ramBytes)
      : refused(server, hostId, result.error));
  });
  return findings;
}

function accepted(url: string, hostId: string, answer: ProbeOkMessage, ramBytes: number | undefined): Finding {
  const data = { receiverVersion: answer.receiverVersion, open: answer.open, freeBytes: answer.freeBytes, minFreeBytes: answer.minFreeBytes,
    maxDumpBytes: answer.maxDumpBytes, uploadsInFlight: answer.uploadsInFlight, maxUploads: answer.maxUploads };
  const who = `receiver ${peerText(answer.receiverVersion, 40)}`;
  if (ramBytes !== undefined && answer.maxDumpBytes !== undefined && ramBytes > answer.maxDumpBytes) {
    return fail(url, ErrorCode.LIMIT, `reachable and takes ${hostId}, but its --max-dump-bytes ${formatBytes(answer.maxDumpBytes)} is less than `
      + `this host's ${formatBytes(ramBytes)} of RAM, about the size of its vmcore: the dump would be refused; raise it on the receiver`, data);
  }
  const auth = answer.open ? `runs --open: any host may upload, tokens are not checked` : `token of ${hostId} accepted`;
  let room = '';
  if (answer.freeBytes !== undefined) {
    room = `, ${formatBytes(answer.freeBytes)} free (keeps ${formatBytes(answer.minFreeBytes ?? 0)})`;
    // HELLO refuses a dump whose worst case (every kept page stored raw) would eat into the reserve.
    const worstCase = ramBytes === undefined ? 0 : ramBytes * (1 + 24 / 4096);
    if (worstCase > answer.freeBytes - (answer.minFreeBytes ?? 0)) {
      return warn(url, `reachable, ${auth} (${who}${room}); a dump of all ${formatBytes(ramBytes!)} of this host's RAM could need up to `
        + `${formatBytes(worstCase)} and would be refused: only a dump level that leaves enough out fits`, data);
    }
  }
  return ok(url, `reachable, ${auth} (${who}${room})`, data);
}

function refused(server: ServerAddress, hostId: string, error: NetdumpError): Finding {
  const fromReceiver = error.fromPeer;
  const said = peerText(error.message);
  const data = { code: error.code, fromReceiver, message: error.message };
  if (!fromReceiver) {
    if (error.code === ErrorCode.AUTH) return fail(server.url, ErrorCode.AUTH, `TLS problem: ${said}`, data);
    return fail(server.url, error.code, `not reachable: ${said}; check the address, that kdump-receiver runs there and that its port is open to this host`, data);
  }
  switch (error.code) {
    case ErrorCode.AUTH:
      return /client certificate/.test(error.message)
        ? fail(server.url, ErrorCode.AUTH, `reachable, TLS client certificate refused: ${said}; check CLIENT_CERT and CLIENT_KEY against the receiver's --tls-client-ca`, data)
        : fail(server.url, ErrorCode.AUTH, `reachable, token refused: ${said}; ${ENROL(hostId)}`, data);
    case ErrorCode.UNAVAILABLE:
      return fail(server.url, ErrorCode.UNAVAILABLE, `reachable, but it takes no upload now: ${said}`, data);
    case ErrorCode.LIMIT:
      return fail(server.url, ErrorCode.LIMIT, `reachable, but it refuses uploads: ${said}`, data);
    case ErrorCode.PROTOCOL:
      return /unknown message type/.test(error.message)
        ? fail(server.url, ErrorCode.PROTOCOL, `reachable, but the receiver predates PROBE (${said}): upgrade it to check the token before a crash`, data)
        : fail(server.url, ErrorCode.PROTOCOL, `reachable, but refused the probe: ${said}`, data);
    default:
      return fail(server.url, error.code, `reachable, but refused: ${said}`, data);
  }
}
