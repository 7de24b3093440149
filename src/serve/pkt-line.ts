/**
 * Git's pkt-line framing (gitprotocol-common(5)), pure: four hex digits giving the length (their own four
 * included), then the payload; "0000" is a flush-pkt. Only what protocol v0 uses: the delimiter and
 * response-end packets of v2 ("0001", "0002") are not valid here.
 */

/** The largest pkt-line, prefix included. */
const MAX_PKT_LENGTH = 65520;

/** One pkt-line. */
export function pktLine(payload: string | Buffer): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const length = body.length + 4;
  if (length > MAX_PKT_LENGTH) throw new RangeError(`pkt-line payload too long: ${body.length} bytes`);
  return Buffer.concat([Buffer.from(length.toString(16).padStart(4, "0"), "ascii"), body]);
}

/** The flush-pkt that ends a section. */
export const FLUSH_PKT = Buffer.from("0000", "ascii");

/** git's way to refuse a request inside the protocol: the client shows "remote error: <message>". */
export function errPkt(message: string): Buffer {
  return pktLine(`ERR ${message}\n`);
}

/** A data line (its payload, one trailing newline removed) or a flush-pkt (null). */
export type Pkt = string | null;

export type PktParse = { ok: true; pkts: Pkt[] } | { ok: false; reason: string };

/**
 * Splits a whole body into pkt-lines. Payloads are read as latin1, one byte per character, so that any
 * byte survives to the checks (and to the log, escaped) without UTF-8 decoding guessing at it.
 */
export function splitPktLines(body: Buffer): PktParse {
  const pkts: Pkt[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 4 > body.length) return { ok: false, reason: `truncated pkt-line length at byte ${at}` };
    const prefix = body.toString("latin1", at, at + 4);
    if (!/^[0-9a-f]{4}$/.test(prefix)) return { ok: false, reason: `bad pkt-line length '${prefix}' at byte ${at}` };
    const length = Number.parseInt(prefix, 16);
    if (length === 0) {
      pkts.push(null);
      at += 4;
      continue;
    }
    if (length < 4) return { ok: false, reason: `pkt-line length ${prefix} (a protocol v2 packet) at byte ${at}` };
    if (at + length > body.length) return { ok: false, reason: `truncated pkt-line at byte ${at}: ${length} bytes announced, ${body.length - at} left` };
    const payload = body.toString("latin1", at + 4, at + length);
    pkts.push(payload.endsWith("\n") ? payload.slice(0, -1) : payload);
    at += length;
  }
  return { ok: true, pkts };
}
