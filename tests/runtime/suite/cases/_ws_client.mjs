/**
 * What the realtime cases share: the signing key, tokens, and a WebSocket
 * client that queues what it receives.
 *
 * @module
 */
import { SignJWT } from "jose";

/** The HS256 secret every realtime case's server trusts. */
export const SECRET = "runtime-secret-runtime-secret-0042";

/**
 * A token for `sub`.
 *
 * @param {string} sub
 * @param {string} [key] The signing secret (another one makes a forged token).
 * @param {number} [expiresInSeconds]
 */
export async function sign(sub, key = SECRET, expiresInSeconds = 3600) {
  return await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(new TextEncoder().encode(key));
}

/**
 * Posts JSON to a case's server and reads the JSON answer.
 *
 * @param {string} url
 * @param {unknown} body
 */
export async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(
      `${url} answered ${response.status}: ${await response.text()}`,
    );
  }
  return await response.json();
}

/** A WebSocket client that queues what it receives, for assertions. */
export class Client {
  /** @type {Record<string, unknown>[]} */
  received = [];
  /** @type {(() => void)[]} */
  #waiters = [];

  /**
   * @param {import("./mod.mjs").CaseContext} ctx
   * @param {string} url The server's `http://` base URL.
   * @param {string} token
   */
  constructor(ctx, url, token) {
    this.socket = new ctx.WebSocket(`${url.replace(/^http/, "ws")}/ws`, [
      "kiln.v1",
      `bearer.${token}`,
    ]);
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve(undefined));
      this.socket.addEventListener(
        "error",
        () => reject(new Error("the WebSocket failed")),
      );
    });
    this.closed = new Promise((resolve) => {
      this.socket.addEventListener("close", (event) => {
        resolve(event.code);
        this.#wake();
      });
    });
    this.socket.addEventListener("message", (event) => {
      this.received.push(JSON.parse(String(event.data)));
      this.#wake();
    });
  }

  /** Opens, and pings: Workers' adapter starts the session on the first frame. */
  async open() {
    await this.opened;
    this.send({ type: "ping" });
    return await this.next("welcome");
  }

  /** @param {unknown} message */
  send(message) {
    this.socket.send(JSON.stringify(message));
  }

  /**
   * Takes the first received message of `type` (that `match` accepts), waiting
   * up to 5 s for it: a bound on a hang, not a measurement.
   *
   * @param {string} type
   * @param {(message: Record<string, any>) => boolean} [match]
   */
  async next(type, match = () => true) {
    const deadline = Date.now() + 5000;
    for (;;) {
      const index = this.received.findIndex((message) => message.type === type && match(message));
      if (index >= 0) return this.received.splice(index, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no ${type} within 5s; got ${JSON.stringify(this.received)}`,
        );
      }
      let timer;
      await new Promise((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  async close() {
    this.socket.close(1000, "done");
    await this.closed;
  }

  #wake() {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
