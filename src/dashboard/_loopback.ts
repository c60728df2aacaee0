/**
 * Loopback tests for `authorize: "local-only"`: the peer's address (from the
 * runtime's connection info, never from headers) and the Host the browser
 * asked for, which defeats DNS rebinding (a hostile page whose name now
 * points at 127.0.0.1 still sends its own name as Host).
 *
 * @module
 */

/** Whether an IPv4 or IPv6 address is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  const v4 = bare.toLowerCase().startsWith("::ffff:") ? bare.slice(7) : bare;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) {
    return v4.split(".").every((part) => Number(part) <= 255);
  }
  return /^(0{0,4}:){7}0{0,3}1$/.test(expandIpv6(bare));
}

/** Whether a Host header names this machine's loopback: localhost, a 127.x address or [::1]. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.replace(/:\d+$/, "").toLowerCase();
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (name.startsWith("[")) return name.endsWith("]") && isLoopbackAddress(name);
  return isLoopbackAddress(name);
}

/** `::1` → `0:0:0:0:0:0:0:1`, so one pattern matches every spelling of it. */
function expandIpv6(address: string): string {
  if (!address.includes(":") || address.split("::").length > 2) return address;
  const [head, tail = ""] = address.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  if (!address.includes("::")) return address;
  const zeros = Array(Math.max(0, 8 - left.length - right.length)).fill("0");
  return [...left, ...zeros, ...right].join(":");
}
