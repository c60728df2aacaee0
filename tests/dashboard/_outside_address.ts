/**
 * This machine's first non-loopback IPv4 address: connecting to it makes the
 * test a peer that `authorize: "local-only"` must refuse.
 *
 * @module
 */

/**
 * @returns The address.
 * @throws {Error} When the machine has no such interface (the test cannot run, and says so).
 */
export function outsideAddress(): string {
  const found = Deno.networkInterfaces().find((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  );
  if (found === undefined) {
    throw new Error("this test needs a non-loopback IPv4 interface to connect from");
  }
  return found.address;
}
