/**
 * Carries the command policy into scripts. Redis lets a Lua script or function call
 * FLUSHALL, SWAPDB and most other commands the policy refuses over HTTP, and a script's
 * text cannot be checked in advance (`redis.call('FLUSH' .. 'ALL')`). Redis does check a
 * script's calls against the ACL user of the connection that runs it, so the gateway's
 * connections run as an ACL user denied exactly what the policy refuses: one policy,
 * enforced by the gateway for commands and by Redis for scripts.
 *
 * The user is named after its rules (several gateways with one policy share it) and its
 * password is derived from the rules and the gateway's own Redis credentials, so every
 * gateway in front of this Redis computes the same one and a restarted Redis gets it
 * back from the next connection's handshake.
 *
 * @module
 */

import { credentialsOf } from "./redis_link.ts";
import type { CommandArgs } from "./redis_reply.ts";

/**
 * Commands the policy refuses over HTTP that the gateway sends itself: reading the command
 * table and key positions, the cluster's slot table, and ASKING to follow a slot being
 * moved. They read what COMMAND DOCS tells anyway, or (ASKING) change only the next
 * command of the connection that sends it, so they stay allowed to the user.
 */
const GATEWAY_OWN = new Set([
  "COMMAND",
  "COMMAND|DOCS",
  "COMMAND|GETKEYS",
  "CLUSTER|SLOTS",
  "ASKING",
]);

/** @returns the lowercase hex SHA-256 of `text` */
async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * @param denied command names and `NAME|SUB` subcommands the policy refuses
 * @param url the Redis the gateway connects to, whose credentials seed the password
 * @returns the commands that create (or refresh) the narrowed user and switch a freshly
 *   authenticated connection to it
 */
export async function narrowedSession(
  denied: ReadonlyArray<string>,
  url: string,
): Promise<CommandArgs[]> {
  const { username, password: secret } = credentialsOf(url);
  const rules = [
    "~*",
    "&*",
    "+@all",
    ...denied.filter((name) => !GATEWAY_OWN.has(name)).map((name) => `-${name.toLowerCase()}`),
  ];
  const user = `kiln-gateway-${(await sha256(rules.join(" "))).slice(0, 16)}`;
  const password = await sha256(
    [user, username, secret, ...rules].join("\n"),
  );
  return [
    ["ACL", "SETUSER", user, "on", "resetpass", `>${password}`, ...rules],
    ["AUTH", user, password],
  ];
}
