/**
 * Text from providers, agents and files is shown to an operator, and a terminal obeys whatever
 * control sequences it finds in it: `ESC ]0;title BEL` retitles the window, `ESC [2J` clears the
 * screen, `ESC ]8;;url` makes a hidden link, a lone CR or backspace overwrites what was printed.
 * The io layer passes every line bound for a terminal through here; `--json`/NDJSON output keeps
 * the text as it was (JSON escapes control characters), and byte passthrough (`automna ssh --
 * cmd`, `lock run`) stays byte-exact because it is the operator's own command talking.
 */

// One alternation, longest forms first, each also in its 8-bit C1 form:
// - string sequences (OSC, DCS, SOS, PM, APC) up to BEL or ST, or to the end when unterminated;
// - CSI with its parameters, intermediates and final byte (SGR colours among them);
// - any other escape (ESC, intermediates, final), or a lone ESC;
// - every other C0 and C1 control character and DEL. Tab and newline are handled by the caller.
// eslint-disable-next-line no-control-regex
const SEQUENCE = /(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|\x1b[ -/]*[0-~]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
// eslint-disable-next-line no-control-regex
const ANY_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
const LINE_BREAKS = /[\t\n]/g;
/**
 * The colours automna's own chalk writes (bold, dim, foreground colours and their resets), kept
 * when the stream shows colour. Others (conceal, reverse, blink, backgrounds) are never automna's.
 */
// eslint-disable-next-line no-control-regex
const OWN_SGR = /^\x1b\[(?:1|2|22|3[0-79]|9[0-7])m$/;

export interface TerminalTextOptions {
  /** Keep SGR colour sequences (the stream shows automna's colours). Default false. */
  colour?: boolean;
  /** Newline and tab become spaces (a table cell, a one-line field). Default: kept. */
  oneLine?: boolean;
}

/** `text` without control sequences, safe to write to a terminal. */
export function terminalText(text: string, options: TerminalTextOptions = {}): string {
  let out = text;
  if (ANY_CONTROL.test(out)) {
    const colour = options.colour === true;
    out = out.replace(SEQUENCE, (seq) => (colour && OWN_SGR.test(seq) ? seq : ""));
  }
  return options.oneLine && (out.includes("\n") || out.includes("\t")) ? out.replace(LINE_BREAKS, " ") : out;
}

/** Bytes that may hold a control character other than tab and newline (as latin1: C0, DEL, or a UTF-8 C1 lead). */
// eslint-disable-next-line no-control-regex
const CONTROL_BYTES = /[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]/;

/**
 * Whole lines as UTF-8 bytes (an agent's log, printed as it comes): returned unchanged, without
 * a copy, unless they hold a control character; then decoded, cleaned and encoded again.
 */
export function terminalBytes(bytes: Buffer): Buffer {
  if (!CONTROL_BYTES.test(bytes.toString("latin1"))) return bytes;
  return Buffer.from(terminalText(bytes.toString("utf8")), "utf8");
}
