/**
 * Text from outside (a client's request, git's error output quoting it) made safe for a one-line-per-event
 * log: control characters, line and paragraph separators and the backslash become visible escapes, so no
 * client can end a line and forge the next one, and the result is cut at `max` characters. The log
 * writer (runtime.ts) applies it once more to every event without escaping backslashes, which makes that
 * second pass change nothing in text already escaped.
 */
export function logText(text: string, max = 400, escapeBackslash = true): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0)!;
    let piece: string;
    if (char === "\\") piece = escapeBackslash ? "\\\\" : char;
    else if (char === "\n") piece = "\\n";
    else if (char === "\r") piece = "\\r";
    else if (char === "\t") piece = "\\t";
    // C0 and C1 controls, DEL, the Unicode line and paragraph separators, bidirectional overrides.
    else if (
      code < 0x20 ||
      (code >= 0x7f && code < 0xa0) ||
      code === 0x2028 ||
      code === 0x2029 ||
      (code >= 0x202a && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069)
    ) {
      piece = code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
    } else piece = char;
    if (out.length + piece.length > max) return `${out}… (${text.length} chars)`;
    out += piece;
  }
  return out;
}
