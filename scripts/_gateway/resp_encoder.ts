/**
 * Encodes commands as RESP2 arrays of bulk strings. The whole request is built as one
 * string and encoded once, so a pipeline of N commands costs one allocation and one
 * socket write instead of N.
 *
 * @module
 */

/** One Redis command as it arrives in a request body: the name, then its arguments. */
export type CommandArgs = ReadonlyArray<string | number>;

const encoder = new TextEncoder();

/**
 * Counts the UTF-8 bytes `TextEncoder` will produce for `s`, lone surrogates included
 * (they become U+FFFD, three bytes), without encoding it.
 */
export function utf8ByteLength(s: string): number {
  const length = s.length;
  let bytes = length;
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 2;
        i++;
        continue;
      }
    }
    bytes += 2;
  }
  return bytes;
}

/** Appends one command in RESP2 form to `out`. */
export function appendCommand(out: string, command: CommandArgs): string {
  out += "*" + command.length + "\r\n";
  for (let i = 0; i < command.length; i++) {
    const arg = command[i];
    const s = typeof arg === "string" ? arg : String(arg);
    out += "$" + utf8ByteLength(s) + "\r\n" + s + "\r\n";
  }
  return out;
}

/**
 * Encodes commands back to back, ready for one write.
 *
 * @param commands the commands in the order Redis should run them
 * @returns the RESP2 bytes
 */
export function encodeCommands(commands: ReadonlyArray<CommandArgs>): Uint8Array {
  let out = "";
  for (let i = 0; i < commands.length; i++) out = appendCommand(out, commands[i]);
  return encoder.encode(out);
}
