/**
 * The server side of one connection: limits, timers, the message loop.
 *
 * @module
 */
import type { WSContext } from "hono/ws";
import type { AuthSession, RealtimeUser } from "./auth.ts";
import type { Clock } from "./clock.ts";
import { CloseCode } from "./close_codes.ts";
import type {
  Connection,
  ConnectionMiddleware,
  ConnectionPolicy as SessionPolicy,
  TransportConnection,
} from "./connection.ts";
import {
  type ChannelInfo,
  channelInfo,
  type ClientMessage,
  ErrorCode,
  parseClientMessage,
  type PresenceMember,
  type ServerMessage,
} from "./protocol.ts";
import { TokenBucket } from "./_token_bucket.ts";
import { scheduleAt } from "./_timer.ts";

export type { ConnectionPolicy as SessionPolicy } from "./connection.ts";

/** What a session needs from its hub. */
export interface SessionHost {
  readonly clock: Clock;
  readonly middlewares: readonly ConnectionMiddleware[];
  subscribe(
    session: Session,
    channel: ChannelInfo,
    member: PresenceMember,
  ): Promise<PresenceMember[] | undefined>;
  unsubscribe(session: Session, channel: string): void;
  members(channel: string): Promise<PresenceMember[]>;
  emit(channel: string, message: ServerMessage, except?: string): Promise<void>;
  detach(session: Session): void;
  reportError(error: unknown, context: string): void;
}

const encoder = new TextEncoder();

/** A Node stream that can hold writes back and send them in one system call. */
interface Corkable {
  cork(): void;
  uncork(): void;
}

// Node's process.nextTick, read from the global (src imports nothing runtime-specific):
// it runs once the current burst of promise jobs is done, so writes made by many
// broadcasts in a row go out together.
const nextTick = (globalThis as { process?: { nextTick?: (task: () => void) => void } })
  .process?.nextTick;

/** One connection, as the hub drives it. */
export class Session implements Connection, TransportConnection {
  readonly id: string = crypto.randomUUID();
  readonly user: RealtimeUser;
  data: Record<string, unknown> = {};
  readonly channels: Set<string> = new Set();
  #expiresAt: number | null;
  #socket: WSContext;
  #host: SessionHost;
  #policy: SessionPolicy;
  #bucket: TokenBucket | null;
  #violations = 0;
  #lastViolationAt = -Infinity;
  #lastSeen: number;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #closing = false;
  #cancelIdle: () => void = () => {};
  #cancelExpiry: () => void = () => {};
  #corkable: Corkable | null;
  #corked = false;
  static #corkedSessions: Session[] = [];

  constructor(socket: WSContext, auth: AuthSession, policy: SessionPolicy, host: SessionHost) {
    this.#socket = socket;
    this.user = auth.user;
    this.#expiresAt = auth.expiresAt;
    this.#policy = policy;
    this.#host = host;
    const now = host.clock.now();
    this.#lastSeen = now;
    const limit = policy.rateLimit;
    this.#bucket = limit ? new TokenBucket(limit.messagesPerSecond, limit.burst, now) : null;
    this.#corkable = nextTick ? corkableStream(socket.raw) : null;
  }

  get expiresAt(): number | null {
    return this.#expiresAt;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs the connect hooks, then greets the client and starts the timers. */
  start(): void {
    this.#enqueue(async () => {
      for (const middleware of this.#host.middlewares) {
        let verdict: void | boolean;
        try {
          verdict = await middleware.onConnect?.(this);
        } catch (error) {
          this.#host.reportError(error, "onConnect");
          verdict = false;
        }
        if (verdict === false) {
          this.close(CloseCode.Refused, "refused");
          return;
        }
        if (this.#closed) return;
      }
      this.#welcome();
      this.#armIdle();
    });
  }

  send(message: ServerMessage): void {
    this.sendRaw(JSON.stringify(message));
  }

  /** Sends an already-serialized message; closes a consumer that does not keep up. */
  sendRaw(text: string): void {
    if (this.#closed) return;
    if (this.#corkable && !this.#corked) this.#cork(this.#corkable);
    try {
      this.#socket.send(text);
    } catch {
      // The socket died under us; its close event (or this) ends the session.
      this.close(CloseCode.GoingAway, "send failed");
      return;
    }
    // While corked the buffer holds our own batch; it is checked once it is flushed.
    if (!this.#corked) this.#checkBuffer();
  }

  #checkBuffer(): void {
    if (bufferedAmount(this.#socket.raw) > this.#policy.maxBufferedBytes) {
      this.close(CloseCode.SlowConsumer, "slow consumer");
    }
  }

  /**
   * On Node's `ws`, one write per frame per client dominates a broadcast's cost:
   * hold this socket's writes until the current burst of work is done, then send
   * them in one go (several times the throughput of bursts; a lone broadcast goes
   * out after the same tick, without waiting for a timer).
   */
  #cork(stream: Corkable): void {
    this.#corked = true;
    stream.cork();
    if (Session.#corkedSessions.push(this) === 1) nextTick!(Session.#uncorkAll);
  }

  static #uncorkAll = (): void => {
    const sessions = Session.#corkedSessions;
    Session.#corkedSessions = [];
    for (const session of sessions) {
      session.#corked = false;
      try {
        session.#corkable!.uncork();
      } catch {
        // The stream was destroyed; its close event ends the session.
      }
      if (!session.#closed) session.#checkBuffer();
    }
  };

  close(code: number = CloseCode.Normal, reason = ""): void {
    if (this.#closed) return;
    try {
      this.#socket.close(code, reason);
    } catch {
      // Already closed at the transport level.
    }
    this.#finish(code, reason);
  }

  /** The transport reported the socket closed. */
  closedByPeer(code: number, reason: string): void {
    if (!this.#closed) this.#finish(code, reason);
  }

  /** One frame from the client: limits first, synchronously, then the ordered loop. */
  receive(data: unknown): void {
    if (this.#closed) return;
    const now = this.#host.clock.now();
    this.#lastSeen = now;
    if (typeof data !== "string") {
      const size = byteSize(data);
      if (size > this.#policy.maxMessageBytes) {
        this.close(CloseCode.MessageTooLarge, "message too large");
        return;
      }
      this.#error(ErrorCode.BinaryUnsupported, "Binary messages are not supported");
      return;
    }
    const max = this.#policy.maxMessageBytes;
    if (data.length > max || (data.length * 3 > max && encoder.encode(data).byteLength > max)) {
      this.close(CloseCode.MessageTooLarge, "message too large");
      return;
    }
    if (this.#closing) return;
    if (this.#bucket && !this.#bucket.take(now)) {
      // A whole second without a violation forgives earlier ones; a flood never gets one.
      if (now - this.#lastViolationAt > 1000) this.#violations = 0;
      this.#lastViolationAt = now;
      this.#violations += 1;
      // Answered in order behind the accepted messages; at most burst + maxViolations
      // tasks can queue up before the close, so a flood cannot grow the queue.
      if (this.#violations > this.#policy.rateLimit!.maxViolations) {
        this.#closing = true;
        this.#enqueue(() => Promise.resolve(this.close(CloseCode.RateLimited, "rate limited")));
      } else {
        this.#enqueue(() =>
          Promise.resolve(
            this.#error(ErrorCode.RateLimited, "Too many messages; this one was dropped"),
          )
        );
      }
      return;
    }
    this.#enqueue(() => this.#handle(data));
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((error) => {
      this.#host.reportError(error, "message");
      this.#error(ErrorCode.Internal, "The server failed to handle the message");
    });
  }

  async #handle(text: string): Promise<void> {
    if (this.#closed) return;
    if (this.#expired()) return;
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.#error(parsed.code, parsed.message, parsed.channel);
      return;
    }
    let message: ClientMessage = parsed.message;
    for (const middleware of this.#host.middlewares) {
      if (!middleware.onMessage) continue;
      const result = await middleware.onMessage(this, message);
      if (this.#closed || result === null) return;
      if (result !== undefined) message = result;
    }
    switch (message.type) {
      case "ping":
        return this.send({ type: "pong" });
      case "subscribe":
        return await this.#subscribe(message.channel, message.data);
      case "unsubscribe":
        if (!this.channels.has(message.channel)) {
          return this.#error(ErrorCode.NotSubscribed, "Not subscribed", message.channel);
        }
        this.channels.delete(message.channel);
        this.#host.unsubscribe(this, message.channel);
        return;
      case "publish":
        return await this.#publish(message.channel, message.event, message.data);
      case "refresh":
        return await this.#refresh(message.token);
    }
  }

  async #subscribe(name: string, data: unknown): Promise<void> {
    const channel = channelInfo(name);
    if (this.channels.has(name)) {
      const members = channel.kind === "presence" ? await this.#host.members(name) : undefined;
      return this.send({ type: "subscribed", channel: name, ...(members ? { members } : {}) });
    }
    if (this.channels.size >= this.#policy.maxSubscriptions) {
      return this.#error(ErrorCode.TooManySubscriptions, "Too many subscriptions", name);
    }
    let info: Record<string, unknown> = {};
    if (channel.kind !== "public") {
      let verdict;
      try {
        verdict = await this.#policy.authorize(this.user, channel, { connection: this, data });
      } catch (error) {
        this.#host.reportError(error, "authorize");
        verdict = false;
      }
      if (!verdict) return this.#error(ErrorCode.Forbidden, "Not allowed on this channel", name);
      // The member's identity comes from the token and its info from authorize, never from the client.
      if (typeof verdict === "object") info = { ...verdict };
    }
    if (this.#closed || this.channels.has(name)) return;
    this.channels.add(name);
    let members: PresenceMember[] | undefined;
    try {
      members = await this.#host.subscribe(this, channel, { id: this.user.id, info });
    } catch (error) {
      this.#host.reportError(error, "subscribe");
      this.channels.delete(name);
      this.#host.unsubscribe(this, name);
      return this.#error(ErrorCode.Internal, "The subscription failed", name);
    }
    this.send({ type: "subscribed", channel: name, ...(members ? { members } : {}) });
  }

  async #publish(name: string, event: string, data: unknown): Promise<void> {
    const channel = channelInfo(name);
    const allowed = this.#policy.clientEvents;
    if (
      channel.kind === "public" || !event.startsWith("client-") || allowed === false ||
      (typeof allowed === "function" && !allowed(this.user, channel, event))
    ) {
      return this.#error(
        ErrorCode.ClientEventsDisabled,
        "Client events are not allowed here",
        name,
      );
    }
    if (!this.channels.has(name)) {
      return this.#error(ErrorCode.NotSubscribed, "Not subscribed", name);
    }
    await this.#host.emit(
      name,
      { type: "message", channel: name, event, data: data ?? null, userId: this.user.id },
      this.id,
    );
  }

  async #refresh(token: string): Promise<void> {
    let next: AuthSession;
    try {
      next = await this.#policy.auth.authenticate(token);
    } catch {
      return this.#error(ErrorCode.RefreshRejected, "The token was not accepted");
    }
    if (this.#closed) return;
    if (next.user.id !== this.user.id) {
      return this.#error(ErrorCode.RefreshRejected, "The token belongs to another user");
    }
    this.#expiresAt = next.expiresAt;
    this.#welcome();
  }

  /** Sends `welcome` (on open, and again after a refresh) and re-arms the expiry timers. */
  #welcome(): void {
    this.send({
      type: "welcome",
      connectionId: this.id,
      user: this.user,
      expiresAt: this.#expiresAt,
    });
    this.#cancelExpiry();
    const expiresAt = this.#expiresAt;
    if (expiresAt === null) return;
    const clock = this.#host.clock;
    const cancelWarning = scheduleAt(
      clock,
      expiresAt - this.#policy.expiryWarningMs,
      () => this.send({ type: "token_expiring", expiresAt }),
    );
    const cancelClose = scheduleAt(
      clock,
      expiresAt,
      () => this.close(CloseCode.TokenExpired, "token expired"),
    );
    this.#cancelExpiry = () => {
      cancelWarning();
      cancelClose();
    };
  }

  #expired(): boolean {
    if (this.#expiresAt !== null && this.#host.clock.now() >= this.#expiresAt) {
      this.close(CloseCode.TokenExpired, "token expired");
      return true;
    }
    return false;
  }

  #armIdle(): void {
    const clock = this.#host.clock;
    const idle = this.#policy.idleTimeoutMs;
    // Re-armed lazily from the last message, so a busy connection costs no timer churn.
    this.#cancelIdle = scheduleAt(clock, this.#lastSeen + idle, () => {
      if (this.#closed) return;
      if (clock.now() - this.#lastSeen >= idle) {
        this.close(CloseCode.IdleTimeout, "idle timeout");
      } else {
        this.#armIdle();
      }
    });
  }

  #error(code: ErrorCode, message: string, channel?: string): void {
    this.send({ type: "error", code, message, ...(channel !== undefined ? { channel } : {}) });
  }

  #finish(code: number, reason: string): void {
    this.#closed = true;
    this.#cancelIdle();
    this.#cancelExpiry();
    this.#host.detach(this);
    const middlewares = this.#host.middlewares;
    if (middlewares.length === 0) return;
    this.#queue = this.#queue.then(async () => {
      for (const middleware of middlewares) {
        try {
          await middleware.onClose?.(this, { code, reason });
        } catch (error) {
          this.#host.reportError(error, "onClose");
        }
      }
    });
  }

  /** Settles when every queued task (and the close hooks) have run. */
  drained(): Promise<void> {
    return this.#queue;
  }
}

/** The TCP stream under a Node `ws` socket (its `_socket`), if that is what `raw` is. */
function corkableStream(raw: unknown): Corkable | null {
  if (typeof raw !== "object" || raw === null) return null;
  const stream = (raw as { _socket?: Partial<Corkable> })._socket;
  return typeof stream?.cork === "function" && typeof stream.uncork === "function"
    ? stream as Corkable
    : null;
}

function bufferedAmount(raw: unknown): number {
  if (typeof raw !== "object" || raw === null) return 0;
  const socket = raw as { bufferedAmount?: unknown; getBufferedAmount?: unknown };
  if (typeof socket.bufferedAmount === "number") return socket.bufferedAmount;
  // Bun's ServerWebSocket exposes it as a method.
  if (typeof socket.getBufferedAmount === "function") {
    return (socket.getBufferedAmount as () => number)();
  }
  return 0;
}

function byteSize(data: unknown): number {
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  if (data instanceof Blob) return data.size;
  return 0;
}
