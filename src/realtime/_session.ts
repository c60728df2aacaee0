/**
 * The server side of one connection: its life from `welcome` to close, the
 * ordered message loop, and the limits and timers it runs under.
 *
 * @module
 */
import type { WSContext } from "hono/ws";
import type { AuthSession, RealtimeUser } from "./auth.ts";
import type { Clock } from "../clock.ts";
import type { ConnectionSlot } from "./connection_slots.ts";
import { CloseCode } from "./close_codes.ts";
import type {
  ConnectionMiddleware,
  ConnectionPolicy,
  TransportConnection,
  Wire,
  WireConnection,
} from "./connection.ts";
import {
  type ChannelInfo,
  type ClientMessage,
  parseClientMessage,
  type PresenceMember,
  RealtimeWireErrorCode,
  type ServerMessage,
} from "./protocol.ts";
import { bufferedAmount } from "./adapters/bun.ts";
import {
  type ChannelRequestContext,
  publish,
  reauthorize,
  subscribe,
  unsubscribe,
} from "./_channel_requests.ts";
import { errorMessage } from "./_error_message.ts";
import { exceedsBytes } from "./_frame_size.ts";
import { RateLimiter } from "./_rate_limiter.ts";
import { scheduleAt } from "./_timer.ts";
import { WriteBatch } from "./_write_batch.ts";

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
  updateMember(session: Session, channel: string, member: PresenceMember): Promise<void>;
  members(channel: string): Promise<PresenceMember[]>;
  emit(channel: string, message: ServerMessage, except?: string): Promise<void>;
  /** A slot for a connection named after it opened, attached; `null` at the cap. */
  admit(userId: string): Promise<ConnectionSlot | null>;
  detach(session: Session): void;
  reportError(error: unknown, context: string): void;
}

/** One connection, as the hub drives it. */
export class Session implements WireConnection, TransportConnection {
  readonly id: string;
  data: Record<string, unknown> = {};
  readonly channels: Set<string> = new Set();
  /** What the client sent with each `subscribe`, for authorizing the channel again after a refresh. */
  readonly subscribeData: Map<string, unknown> = new Map();
  #user: RealtimeUser;
  #expiresAt: number | null;
  #socket: WSContext;
  #host: SessionHost;
  #policy: ConnectionPolicy;
  #requests: ChannelRequestContext;
  #rateLimiter: RateLimiter | null;
  #writes: WriteBatch | null;
  #lastSeen: number;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #closing = false;
  #slot: ConnectionSlot | null;
  #wire: Wire | null;
  #cancelIdle: () => void = () => {};
  #cancelExpiry: () => void = () => {};

  constructor(
    socket: WSContext,
    auth: AuthSession,
    policy: ConnectionPolicy,
    host: SessionHost,
    slot?: ConnectionSlot,
    wire?: Wire,
    id?: string,
  ) {
    this.id = id ?? crypto.randomUUID();
    this.#wire = wire ?? null;
    this.#slot = slot ?? null;
    this.#socket = socket;
    this.#user = auth.user;
    this.#expiresAt = auth.expiresAt;
    this.#policy = policy;
    this.#host = host;
    this.#requests = { session: this, policy, host };
    const now = host.clock.now();
    this.#lastSeen = now;
    this.#rateLimiter = policy.rateLimit ? new RateLimiter(policy.rateLimit, now) : null;
    this.#writes = WriteBatch.for(socket.raw, () => {
      if (!this.#closed) this.#checkBuffer();
    });
  }

  /** The user, as the latest accepted token says (a refresh replaces the claims). */
  get user(): RealtimeUser {
    return this.#user;
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
      }
      // Closed while the hooks ran (or before this task started): arm no timers on a dead session.
      if (this.#closed) return;
      this.#welcome();
      this.#armIdle();
    });
  }

  send(message: ServerMessage): void {
    const text = this.#wire ? this.#wire.encode(message) : JSON.stringify(message);
    if (text !== null) this.sendRaw(text);
  }

  /** Sends a broadcast, serialized once as Kiln's JSON, in this connection's protocol. */
  deliver(payload: string): void {
    const text = this.#wire ? this.#wire.translate(payload) : payload;
    if (text !== null) this.sendRaw(text);
  }

  async identify(user: RealtimeUser): Promise<"ok" | "other_user" | "over_quota"> {
    if (this.#user.id === user.id) {
      this.#user = user;
      return "ok";
    }
    if (this.#user.id !== this.id) return "other_user";
    // The wire names users from the ordered message loop, so nothing renames it meanwhile.
    const slot = await this.#host.admit(user.id);
    if (slot === null) return "over_quota";
    if (this.#closed) {
      slot.release();
      return "over_quota";
    }
    this.#slot = slot;
    this.#user = user;
    return "ok";
  }

  /** Sends an already-serialized message; closes a consumer that does not keep up. */
  sendRaw(text: string): void {
    if (this.#closed) return;
    this.#writes?.hold();
    try {
      this.#socket.send(text);
    } catch {
      // The socket died under us; its close event (or this) ends the session.
      this.close(CloseCode.GoingAway, "send failed");
      return;
    }
    // While held the buffer holds our own batch; it is checked once it is flushed.
    if (!this.#writes?.held) this.#checkBuffer();
  }

  #checkBuffer(): void {
    if (bufferedAmount(this.#socket.raw) > this.#policy.maxBufferedBytes) {
      this.close(CloseCode.SlowConsumer, "slow consumer");
    }
  }

  close(code: number = CloseCode.Normal, reason = ""): void {
    if (this.#closed) return;
    try {
      this.#socket.close(this.#wire ? this.#wire.closeCode(code) : code, reason);
    } catch {
      // Already closed at the transport level.
    }
    this.#finish(code, reason);
  }

  /** The transport reported the socket closed. */
  closedByPeer(code: number, reason: string): void {
    if (!this.#closed) this.#finish(code, reason);
  }

  /**
   * One frame from the client: limits first, synchronously, then the ordered loop.
   * Every frame, text or binary, passes the size check and takes a token from the
   * rate limit before anything answers it: an early answer must not be a way around them.
   */
  receive(data: unknown): void {
    if (this.#closed) return;
    const now = this.#host.clock.now();
    this.#lastSeen = now;
    if (exceedsBytes(data, this.#policy.maxMessageBytes)) {
      this.close(CloseCode.MessageTooLarge, "message too large");
      return;
    }
    if (this.#closing) return;
    const verdict = this.#rateLimiter?.check(now) ?? "accept";
    if (verdict === "accept") {
      if (typeof data === "string") {
        this.#enqueue(() => this.#handle(data));
      } else {
        this.#enqueue(() =>
          Promise.resolve(
            this.#error(
              RealtimeWireErrorCode.BinaryUnsupported,
              "Binary messages are not supported",
            ),
          )
        );
      }
      return;
    }
    // Answered in order behind the accepted messages; at most burst + maxViolations
    // tasks can queue up before the close, so a flood cannot grow the queue.
    if (verdict === "close") {
      this.#closing = true;
      this.#enqueue(() => Promise.resolve(this.close(CloseCode.RateLimited, "rate limited")));
    } else {
      this.#enqueue(() =>
        Promise.resolve(
          this.#error(RealtimeWireErrorCode.RateLimited, "Too many messages; this one was dropped"),
        )
      );
    }
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((error) => {
      this.#host.reportError(error, "message");
      this.#error(RealtimeWireErrorCode.Internal, "The server failed to handle the message");
    });
  }

  async #handle(text: string): Promise<void> {
    if (this.#closed) return;
    if (this.#expired()) return;
    const parsed = this.#wire ? await this.#wire.decode(text, this) : parseClientMessage(text);
    if (parsed === null || this.#closed) return;
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
        return await subscribe(this.#requests, message.channel, message.data);
      case "unsubscribe":
        return unsubscribe(this.#requests, message.channel);
      case "publish":
        return await publish(this.#requests, message.channel, message.event, message.data);
      case "refresh":
        return await this.#refresh(message.token);
    }
  }

  async #refresh(token: string): Promise<void> {
    let next: AuthSession;
    try {
      next = await this.#policy.auth.authenticate(token);
    } catch {
      return this.#error(RealtimeWireErrorCode.RefreshRejected, "The token was not accepted");
    }
    if (this.#closed) return;
    if (next.user.id !== this.user.id) {
      return this.#error(
        RealtimeWireErrorCode.RefreshRejected,
        "The token belongs to another user",
      );
    }
    // The new token's claims replace the old ones, for everything from here on.
    this.#user = next.user;
    this.#expiresAt = next.expiresAt;
    this.#welcome();
    await reauthorize(this.#requests);
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
      expiresAt - this.#policy.expiryWarning,
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
    const idle = this.#policy.idleTimeout;
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

  #error(code: RealtimeWireErrorCode, message: string, channel?: string): void {
    this.send(errorMessage(code, message, channel));
  }

  #finish(code: number, reason: string): void {
    this.#closed = true;
    this.#cancelIdle();
    this.#cancelExpiry();
    this.#host.detach(this);
    this.#slot?.release();
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
