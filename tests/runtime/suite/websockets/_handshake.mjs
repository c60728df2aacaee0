/**
 * A raw WebSocket handshake over `node:net` (Node and Bun), for cases that need
 * the status and headers of a refused upgrade, which no WebSocket client exposes.
 *
 * @module
 */
import { connect } from "node:net";

/**
 * Sends an upgrade request and reads the response head, then hangs up.
 *
 * @param {string} url An `http://` URL.
 * @param {Record<string, string>} headers Extra request headers.
 * @returns {Promise<{ status: number; headers: Headers }>}
 */
export function handshake(url, headers) {
  const { hostname, port, pathname, search } = new URL(url);
  const lines = [
    `GET ${pathname}${search} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let head = "";
    socket.setEncoding("latin1");
    socket.setTimeout(3000, () => socket.destroy(new Error("No handshake response in 3s")));
    socket.on("connect", () => socket.write(lines.join("\r\n") + "\r\n\r\n"));
    socket.on("data", (chunk) => {
      head += chunk;
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.destroy();
      const [statusLine, ...fields] = head.slice(0, end).split("\r\n");
      const result = new Headers();
      for (const field of fields) {
        const colon = field.indexOf(":");
        if (colon > 0) result.append(field.slice(0, colon).trim(), field.slice(colon + 1).trim());
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers: result });
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`Connection closed before a response: ${head}`)));
  });
}
