/**
 * What a worker's heartbeat says about where it runs. The one place the queue
 * asks the runtime about itself, each probe guarded, so it loads everywhere
 * (Workers and browsers have no host name).
 *
 * @module
 */

interface Probes {
  Deno?: { hostname?(): string; version?: { deno?: string } };
  process?: {
    versions?: { node?: string; bun?: string };
    env?: Record<string, string | undefined>;
  };
  navigator?: { userAgent?: string };
}

/** The runtime and its version, such as `"Deno/2.1.4"`, `"Node.js/20.19.0"` or `"Cloudflare-Workers"`. */
export function runtimeName(): string {
  const probes = globalThis as Probes;
  if (probes.Deno?.version?.deno) return `Deno/${probes.Deno.version.deno}`;
  if (probes.process?.versions?.bun) return `Bun/${probes.process.versions.bun}`;
  if (probes.process?.versions?.node) return `Node.js/${probes.process.versions.node}`;
  return probes.navigator?.userAgent ?? "unknown";
}

/** The host name where the runtime tells it, else `"unknown"`. */
export function hostName(): string {
  const probes = globalThis as Probes;
  try {
    const name = probes.Deno?.hostname?.() ?? probes.process?.env?.HOSTNAME;
    if (name) return name;
  } catch {
    // Deno without --allow-sys: the name is not ours to know.
  }
  return "unknown";
}
