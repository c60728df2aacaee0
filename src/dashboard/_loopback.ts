/**
 * Loopback tests for `authorize: "local-only"`: the peer's address (from the
 * runtime's connection info, never from headers) and the Host the browser
 * asked for, which defeats DNS rebinding (a hostile page whose name now
 * points at 127.0.0.1 still sends its own name as Host).
 *
 * @module
 */

/**
 * Whether an IPv4 or IPv6 address is a loopback address: 127.0.0.0/8, `::1`,
 * or 127.0.0.0/8 mapped into IPv6 (`::ffff:127.0.0.1`, `::ffff:7f00:1`), in
 * any spelling a runtime may report.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  const v4 = ipv4Bytes(bare);
  if (v4 !== undefined) return v4[0] === 127;
  const groups = ipv6Groups(bare);
  if (groups === undefined || groups.slice(0, 5).some((group) => group !== 0)) return false;
  if (groups[5] === 0) return groups[6] === 0 && groups[7] === 1; // ::1
  return groups[5] === 0xffff && groups[6] >> 8 === 127; // ::ffff:127.x.y.z
}

/** Whether a Host header names this machine's loopback: localhost, a 127.x address or [::1]. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.replace(/:\d+$/, "").toLowerCase();
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (name.startsWith("[")) return name.endsWith("]") && isLoopbackAddress(name);
  return isLoopbackAddress(name);
}

/** `a.b.c.d` as four bytes, or undefined when it is not one. */
function ipv4Bytes(text: string): number[] | undefined {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return undefined;
  const bytes = text.split(".").map(Number);
  return bytes.every((byte) => byte <= 255) ? bytes : undefined;
}

/**
 * An IPv6 address as its eight 16-bit groups (`::` expanded, a dotted IPv4
 * tail read as two groups), or undefined when it is not one. Written here
 * because the four runtimes share no parser (`node:net` is not in Workers).
 */
function ipv6Groups(text: string): number[] | undefined {
  let spelled = text;
  const tail = /^(.*:)([^:]*\.[^:]*)$/.exec(text);
  if (tail !== null) {
    const bytes = ipv4Bytes(tail[2]);
    if (bytes === undefined) return undefined;
    spelled = `${tail[1]}${((bytes[0] << 8) | bytes[1]).toString(16)}:${
      ((bytes[2] << 8) | bytes[3]).toString(16)
    }`;
  }
  const halves = spelled.split("::");
  if (halves.length > 2) return undefined;
  const split = (half: string) => half === "" ? [] : half.split(":");
  const head = split(halves[0]);
  const rest = halves.length === 2 ? split(halves[1]) : [];
  const zeros = 8 - head.length - rest.length;
  if (halves.length === 2 ? zeros < 1 : zeros !== 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? zeros : 0).fill("0"), ...rest];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  return groups.map((group) => parseInt(group, 16));
}
