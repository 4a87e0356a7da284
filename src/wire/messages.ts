/**
 * The few protocol messages pgveil builds or reads itself. Everything else is
 * framed (framer.ts) and forwarded untouched.
 */

/** Request codes carried in the int32 after the length of an untyped startup packet. */
export const StartupCode = {
  SSLRequest: 80877103,
  GSSENCRequest: 80877104,
  CancelRequest: 80877102,
} as const;

/** PostgreSQL refuses longer startup packets (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET = 10_000;

/** Frontend message types valid after startup (protocol 3.0 - 3.2). */
export const FRONTEND_TYPES = 'BCdcfDEHFPpQSX';

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** A message of the given type with `body` after its length word. */
export function encodeMessage(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** ErrorResponse ('E') or NoticeResponse ('N') in PostgreSQL's field format. */
export function encodeErrorResponse(fields: ErrorFields, type: 'E' | 'N' = 'E'): Buffer {
  const parts: [string, string][] = [
    ['S', fields.severity],
    ['V', fields.severity],
    ['C', fields.code],
    ['M', fields.message],
  ];
  if (fields.detail) parts.push(['D', fields.detail]);
  if (fields.hint) parts.push(['H', fields.hint]);
  let size = 4 + 1;
  const encoded = parts.map(([k, v]) => [k, Buffer.from(v, 'utf8')] as const);
  for (const [, v] of encoded) size += 1 + v.length + 1;
  const out = Buffer.allocUnsafe(1 + size);
  out[0] = type.charCodeAt(0);
  out.writeUInt32BE(size, 1);
  let o = 5;
  for (const [k, v] of encoded) {
    out[o++] = k.charCodeAt(0);
    v.copy(out, o);
    o += v.length;
    out[o++] = 0;
  }
  out[o] = 0;
  return out;
}

/** Fields of an ErrorResponse/NoticeResponse keyed by their one-letter code. */
export function decodeErrorFields(message: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let o = 5;
  while (o < message.length && message[o] !== 0) {
    const key = String.fromCharCode(message[o]);
    const end = message.indexOf(0, o + 1);
    if (end < 0) break;
    fields.set(key, message.toString('utf8', o + 1, end));
    o = end + 1;
  }
  return fields;
}

/** Reads the key/value pairs of a v3 StartupMessage (whole packet, length included). */
export function decodeStartupParameters(packet: Buffer): Map<string, string> {
  const params = new Map<string, string>();
  let o = 8;
  while (o < packet.length && packet[o] !== 0) {
    const keyEnd = packet.indexOf(0, o);
    if (keyEnd < 0) throw new Error('startup parameter name is not terminated');
    const valueEnd = packet.indexOf(0, keyEnd + 1);
    if (valueEnd < 0) throw new Error('startup parameter value is not terminated');
    params.set(packet.toString('utf8', o, keyEnd), packet.toString('utf8', keyEnd + 1, valueEnd));
    o = valueEnd + 1;
  }
  if (o >= packet.length) throw new Error('startup packet is not terminated');
  return params;
}

/** CancelRequest: int32 len, int32 code, int32 pid, secret key (4 bytes in 3.0, up to 256 in 3.2). */
export function encodeCancelRequest(pid: number, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + key.length);
  out.writeUInt32BE(12 + key.length, 0);
  out.writeUInt32BE(StartupCode.CancelRequest, 4);
  out.writeUInt32BE(pid, 8);
  key.copy(out, 12);
  return out;
}

export function encodeSSLRequest(): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32BE(8, 0);
  out.writeUInt32BE(StartupCode.SSLRequest, 4);
  return out;
}

export function encodeBackendKeyData(pid: number, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + key.length);
  out[0] = 0x4b; // 'K'
  out.writeUInt32BE(8 + key.length, 1);
  out.writeUInt32BE(pid, 5);
  key.copy(out, 9);
  return out;
}

/** AuthenticationRequest subtype codes ('R' messages). */
export const AuthCode = { Ok: 0, SASL: 10 } as const;

/** AuthenticationSASL ('R', 10) carries a list of mechanism names. */
export function decodeSaslMechanisms(message: Buffer): string[] {
  const names: string[] = [];
  let o = 9;
  while (o < message.length && message[o] !== 0) {
    const end = message.indexOf(0, o);
    if (end < 0) break;
    names.push(message.toString('utf8', o, end));
    o = end + 1;
  }
  return names;
}

export function encodeSaslMechanisms(names: string[]): Buffer {
  const body = Buffer.concat([...names.map((n) => Buffer.from(`${n}\0`, 'utf8')), Buffer.from([0])]);
  const out = Buffer.allocUnsafe(9 + body.length);
  out[0] = 0x52; // 'R'
  out.writeUInt32BE(8 + body.length, 1);
  out.writeUInt32BE(AuthCode.SASL, 5);
  body.copy(out, 9);
  return out;
}
