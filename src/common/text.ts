/**
 * Text that came from outside (a check's error, a platform name) and leaves
 * the process (spans, logs, /healthz, the live table). One bound for all of
 * it: one line of at most {@link TEXT_LIMIT} characters, with no control
 * characters and no bidi overrides, so nothing a check hands back can grow
 * a span, flood a log or repaint a terminal.
 */

/** Longest line of outside text that leaves the process. */
export const TEXT_LIMIT = 200;
/** A stack trace keeps at most this many lines (message line included), each bounded like any text. */
export const STACK_LINES = 10;

// C0 and C1 controls, DEL, and the bidi embeddings, overrides and isolates
// (U+202A–U+202E, U+2066–U+2069) that can reorder what a terminal shows.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const LINE_BREAK = /\r\n?|\n|\u2028|\u2029/;

/** `text` with every control character and bidi override replaced by `?` (same length, no other change). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, '?');
}

// `scheme://user:password@` and query parameters that usually carry a credential.
// The password runs to the authority's last @, as URL parsers read it: `redis://u:p@ss@host` hides `p@ss`.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):[^\s/?#]*@/gi;
const SECRET_PARAM = /([?&;](?:access_token|api_key|apikey|auth|key|password|passwd|pwd|secret|token)=)[^&#;\s]*/gi;

/** `text` with URL passwords (`user:pass@` → `user:***@`) and credential-like query values (`?token=***`) masked. */
export function maskSecrets(text: string): string {
  return text.replace(URL_PASSWORD, '$1:***@').replace(SECRET_PARAM, '$1***');
}

/** The first line of `text`, printable, secrets masked, cut to {@link TEXT_LIMIT} characters (an ellipsis marks the cut). */
export function boundLine(text: string): string {
  // Masked before the cut, so a cut never leaves half a password unmasked.
  const line = maskSecrets(printable(text.split(LINE_BREAK, 1)[0]!));
  return line.length > TEXT_LIMIT ? `${line.slice(0, TEXT_LIMIT - 1)}…` : line;
}

/** A stack trace cut to {@link STACK_LINES} lines, each bounded by {@link boundLine}. */
export function boundStack(stack: string): string {
  const lines = stack.split(LINE_BREAK);
  const kept = lines.slice(0, STACK_LINES).map(boundLine);
  if (lines.length > STACK_LINES) kept.push(`    … ${lines.length - STACK_LINES} more lines`);
  return kept.join('\n');
}
