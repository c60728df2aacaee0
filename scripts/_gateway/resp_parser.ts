/**
 * An incremental RESP2 parser. The gateway parses Redis's wire format itself so that
 * replies reach JSON exactly as Redis sent them: flat arrays stay flat (HGETALL is never
 * turned into an object), bulk strings stay raw bytes until the response encoding
 * (plain UTF-8 or base64) is chosen, and nested arrays keep their shape.
 *
 * @module
 */

/** An error reply (`-ERR ...`) from Redis, kept as a value so pipelines can carry it. */
export class RedisErrorReply {
  /** The message exactly as Redis sent it, e.g. `ERR unknown command 'FOO'`. */
  readonly message: string;
  /** @param message the error line without its leading `-` */
  constructor(message: string) {
    this.message = message;
  }
}

/**
 * A reply larger than the parser's limit, read past and dropped instead of held: only its
 * size is kept. Always a whole top-level reply, never inside an array.
 */
export class OversizedReply {
  /** The reply's size on the wire, in bytes. */
  readonly bytes: number;
  /** @param bytes the reply's size on the wire */
  constructor(bytes: number) {
    this.bytes = bytes;
  }
}

/**
 * One RESP2 reply: a simple string is a `string`, a bulk string is a `Uint8Array`,
 * an integer is a `number` (a `bigint` beyond 2^53), nil is `null`.
 */
export type RespValue =
  | string
  | Uint8Array
  | number
  | bigint
  | null
  | RedisErrorReply
  | OversizedReply
  | RespValue[];

const CR = 13;
const INITIAL_CAPACITY = 64 * 1024;
const INCOMPLETE: unique symbol = Symbol("incomplete");
/** An array header was read; its length is in `#arrayLength`. */
const ARRAY_OPEN: unique symbol = Symbol("array open");

/**
 * An array being filled: the elements parsed so far survive a read that ends mid-array.
 * Past the size limit its elements are only counted (`items` is dropped).
 */
interface OpenArray {
  items: RespValue[] | undefined;
  length: number;
  filled: number;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/**
 * Buffers bytes read from a socket and yields each complete reply in order. A reply
 * larger than `maxReplyBytes` is read past without being held (a bulk string's bytes are
 * dropped as they arrive) and yielded as an {@linkcode OversizedReply}, so one huge reply
 * (a GET of a 500 MB value, LRANGE of ten million elements) costs the reader neither the
 * memory nor its place in the stream.
 */
export class RespParser {
  readonly #limit: number;
  /** Bytes of the current top-level reply parsed so far. */
  #replyBytes = 0;
  /** Whether the current top-level reply passed the limit and is being read past. */
  #skipping = false;
  /** Bytes of a dropped bulk string still to come from the socket. */
  #discard = 0;
  #buf = new Uint8Array(INITIAL_CAPACITY);
  /** Where the next element starts; everything before it is parsed. */
  #start = 0;
  #end = 0;
  /** Absolute offset the last incomplete bulk string needs; lets reads grow the buffer. */
  #needed = 0;
  /** Arrays whose elements are still arriving, outermost first. */
  readonly #open: OpenArray[] = [];
  #arrayLength = 0;
  #elements = 0;

  /** @param maxReplyBytes the largest reply (in wire bytes) held whole */
  constructor(maxReplyBytes = Infinity) {
    this.#limit = maxReplyBytes;
  }

  /**
   * Returns the free tail of the buffer for the next socket read, compacting or
   * growing it first so that it has room.
   */
  writable(): Uint8Array {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
    }
    const wanted = Math.max(this.#needed - this.#start, this.#end - this.#start + 16 * 1024);
    if (wanted > this.#buf.length) {
      let capacity = this.#buf.length * 2;
      while (capacity < wanted) capacity *= 2;
      const next = new Uint8Array(capacity);
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#needed = Math.max(0, this.#needed - this.#start);
      this.#start = 0;
      this.#buf = next;
    } else if (this.#buf.length - this.#end < 16 * 1024 || this.#needed > this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#needed = Math.max(0, this.#needed - this.#start);
      this.#start = 0;
    }
    return this.#buf.subarray(this.#end);
  }

  /** Records that `n` bytes were read into the region returned by {@linkcode writable}. */
  commit(n: number): void {
    const dropped = Math.min(n, this.#discard);
    if (dropped > 0) {
      // The head of this read belongs to a bulk string being read past.
      this.#discard -= dropped;
      this.#buf.copyWithin(this.#end, this.#end + dropped, this.#end + n);
    }
    this.#end += n - dropped;
  }

  /**
   * Parses the next complete reply. A reply cut off by the end of the buffered bytes is
   * resumed where it stopped on the next call: the elements of unfinished arrays are
   * kept, so a long array arriving in many reads is parsed once, in linear time.
   *
   * @returns the reply, or `undefined` when more bytes are needed
   * @throws {SyntaxError} when the stream is not RESP2
   */
  next(): RespValue | undefined {
    if (this.#discard > 0 || this.#needed > this.#end) return undefined;
    const open = this.#open;
    while (true) {
      let value = this.#element();
      if (value === INCOMPLETE) return undefined;
      this.#elements++;
      if (!this.#skipping && this.#replyBytes > this.#limit) this.#skip();
      if (value === ARRAY_OPEN) {
        const length = this.#arrayLength;
        // Every element takes at least 4 bytes (":0\r\n"): a header that promises more
        // than the limit is read past at once, before an array of its length is made.
        if (!this.#skipping && this.#replyBytes + 4 * length > this.#limit) this.#skip();
        open.push({ items: this.#skipping ? undefined : new Array(length), length, filled: 0 });
        continue;
      }
      // Place the value in its array; a full array is itself the value for its parent.
      while (true) {
        const top = open[open.length - 1];
        if (top === undefined) {
          const bytes = this.#replyBytes;
          this.#replyBytes = 0;
          if (!this.#skipping) return value;
          this.#skipping = false;
          return new OversizedReply(bytes);
        }
        if (top.items !== undefined) top.items[top.filled] = value;
        if (++top.filled < top.length) break;
        open.pop();
        value = top.items ?? null;
      }
    }
  }

  /** Reads the rest of the current reply without keeping it, and drops what was kept. */
  #skip(): void {
    this.#skipping = true;
    for (const array of this.#open) array.items = undefined;
  }

  /** How many RESP elements (replies, array headers, array elements) were parsed so far. */
  get elementsParsed(): number {
    return this.#elements;
  }

  #lineEnd(from: number): number {
    const buf = this.#buf;
    const end = this.#end - 1;
    for (let i = from; i < end; i++) {
      if (buf[i] === CR) return i;
    }
    return -1;
  }

  #integer(from: number, to: number): number {
    const buf = this.#buf;
    let i = from;
    let negative = false;
    if (buf[i] === 45) {
      negative = true;
      i++;
    }
    let n = 0;
    for (; i < to; i++) n = n * 10 + (buf[i] - 48);
    return negative ? -n : n;
  }

  /**
   * Parses one element at `#start` and moves `#start` past it; an array yields only its
   * header (`ARRAY_OPEN`, or its value when it is empty or nil).
   */
  #element(): RespValue | typeof INCOMPLETE | typeof ARRAY_OPEN {
    const before = this.#start;
    const value = this.#parseElement();
    if (value !== INCOMPLETE) this.#replyBytes += this.#start - before + this.#discard;
    return value;
  }

  #parseElement(): RespValue | typeof INCOMPLETE | typeof ARRAY_OPEN {
    const buf = this.#buf;
    const pos = this.#start;
    if (pos >= this.#end) return INCOMPLETE;
    const lineEnd = this.#lineEnd(pos + 1);
    if (lineEnd < 0) return INCOMPLETE;
    const type = buf[pos];
    switch (type) {
      case 36: { // '$' bulk string
        const length = this.#integer(pos + 1, lineEnd);
        if (length < 0) {
          this.#start = lineEnd + 2;
          return null;
        }
        const from = lineEnd + 2;
        const to = from + length;
        if (this.#skipping || this.#replyBytes + (to + 2 - pos) > this.#limit) {
          // Too big to hold: read past it, dropping what has not arrived yet as it comes.
          if (!this.#skipping) this.#skip();
          this.#discard = Math.max(0, to + 2 - this.#end);
          this.#start = Math.min(to + 2, this.#end);
          return null;
        }
        if (to + 2 > this.#end) {
          this.#needed = to + 2;
          return INCOMPLETE;
        }
        this.#needed = 0;
        this.#start = to + 2;
        return buf.slice(from, to);
      }
      case 43: { // '+' simple string
        this.#start = lineEnd + 2;
        if (lineEnd - pos === 3 && buf[pos + 1] === 79 && buf[pos + 2] === 75) return "OK";
        return utf8.decode(buf.subarray(pos + 1, lineEnd));
      }
      case 58: { // ':' integer
        this.#start = lineEnd + 2;
        if (lineEnd - pos < 16) return this.#integer(pos + 1, lineEnd);
        const text = latin1.decode(buf.subarray(pos + 1, lineEnd));
        const n = Number(text);
        return Number.isSafeInteger(n) ? n : BigInt(text);
      }
      case 42: { // '*' array
        const length = this.#integer(pos + 1, lineEnd);
        this.#start = lineEnd + 2;
        if (length < 0) return null;
        if (length === 0) return [];
        this.#arrayLength = length;
        return ARRAY_OPEN;
      }
      case 45: { // '-' error
        this.#start = lineEnd + 2;
        return new RedisErrorReply(utf8.decode(buf.subarray(pos + 1, lineEnd)));
      }
      default:
        throw new SyntaxError(`Unexpected RESP type byte ${type}`);
    }
  }
}
