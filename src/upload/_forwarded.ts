/**
 * Reading the public host and protocol a reverse proxy reports, from RFC 7239
 * `Forwarded` or `X-Forwarded-Host` / `X-Forwarded-Proto`. Every value comes
 * from the network, so anything that is not a plain host (and optional port)
 * or `http`/`https` is dropped rather than cleaned.
 *
 * Why hand-parsed: `forwarded-parse` (2.2.0), the usual npm parser, is
 * CommonJS and requires `node:util`, so it would not load on Workers without
 * `nodejs_compat` or in a browser bundle; it also accepts a parameter
 * repeated within one element, which this parser refuses (a client could
 * otherwise smuggle a second `host=` past a proxy that appends its own). The
 * grammar is small, and the hostile cases live in tests/upload/forwarded_test.ts.
 */

/** What a proxy reported; a field is `null` when absent or unusable. */
export interface ForwardedOrigin {
  host: string | null;
  proto: "http" | "https" | null;
}

// A DNS name (labels may hold `_`, as container names do) or a bracketed IPv6
// literal, then an optional port. No `/`, `@`, `?`, `#`, `\`, `%` or spaces can
// pass, so the value can only ever name an origin.
const LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
const HOST = new RegExp(
  `^(?:${LABEL}(?:\\.${LABEL})*\\.?|\\[[0-9A-Fa-f:.]{2,45}\\])(?::(\\d{1,5}))?$`,
);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The host and protocol the nearest proxy reports. `Forwarded` is read first,
 * field by field, then `X-Forwarded-*`. Where a header lists several hops, the
 * last one is used: it is the one the proxy in front of this server appended,
 * while earlier ones may have come from the client.
 */
export function forwardedOrigin(headers: Headers): ForwardedOrigin {
  const element = lastForwardedElement(headers.get("Forwarded"));
  return {
    host: checkHost(element?.get("host")) ?? checkHost(lastListItem(headers, "X-Forwarded-Host")),
    proto: checkProto(element?.get("proto")) ??
      checkProto(lastListItem(headers, "X-Forwarded-Proto")),
  };
}

/** `value` when it is a usable `host[:port]`, else `null`. */
export function checkHost(value: string | undefined | null): string | null {
  if (typeof value !== "string" || value.length > 260) return null;
  const match = HOST.exec(value);
  if (!match || (match[1] !== undefined && Number(match[1]) > 65535)) return null;
  try {
    // The WHATWG parser has the last word (an IPv6 literal the pattern let through, for one).
    new URL(`http://${value}`);
  } catch {
    return null;
  }
  return value;
}

function checkProto(value: string | undefined | null): "http" | "https" | null {
  const proto = value?.toLowerCase();
  return proto === "http" || proto === "https" ? proto : null;
}

function lastListItem(headers: Headers, name: string): string | null {
  const value = headers.get(name);
  if (value === null) return null;
  return value.slice(value.lastIndexOf(",") + 1).trim();
}

/**
 * Parses a `Forwarded` header (`1#forwarded-element`, each `pair *(";" pair)`,
 * each `token "=" (token / quoted-string)`) and returns its last element's
 * parameters, names lower-cased. `null` when the header is absent or malformed
 * anywhere (element boundaries cannot be trusted past a syntax error), or when
 * the last element repeats a parameter.
 */
export function lastForwardedElement(header: string | null): Map<string, string> | null {
  if (header === null || header.length > 8192) return null;
  let element = new Map<string, string>();
  let valid = true;
  let at = 0;
  const skipSpace = () => {
    while (header[at] === " " || header[at] === "\t") at++;
  };
  for (;;) {
    skipSpace();
    // Empty list items and empty pairs are allowed by the grammar.
    if (header[at] !== "," && header[at] !== ";" && at < header.length) {
      const equals = header.indexOf("=", at);
      if (equals < 0) return null;
      const name = header.slice(at, equals).trim().toLowerCase();
      if (!TOKEN.test(name)) return null;
      at = equals + 1;
      let value: string;
      if (header[at] === '"') {
        value = "";
        at++;
        for (;;) {
          const char = header[at++];
          if (char === undefined) return null;
          if (char === '"') break;
          if (char === "\\") {
            const escaped = header[at++];
            if (escaped === undefined) return null;
            value += escaped;
          } else {
            value += char;
          }
        }
      } else {
        const end = header.slice(at).search(/[,;\s]|$/);
        value = header.slice(at, at + end);
        if (!TOKEN.test(value)) return null;
        at += end;
      }
      if (element.has(name)) valid = false;
      element.set(name, value);
      skipSpace();
    }
    const separator = header[at++];
    if (separator === undefined) return valid ? element : null;
    if (separator === ",") {
      element = new Map();
      valid = true;
    } else if (separator !== ";") {
      return null;
    }
  }
}
