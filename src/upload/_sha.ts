/**
 * Incremental SHA-1 and SHA-256, for verifying `Upload-Checksum` while a PATCH
 * body streams through. Web Crypto only digests a whole buffer, which would
 * mean holding the whole chunk in memory; these keep 64 bytes of state.
 * They are checked against Web Crypto in tests/upload/sha_test.ts.
 */

/** A running digest. */
export interface Hasher {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

/** Creates a hasher for a tus checksum algorithm name, or `null` when unsupported. */
export function createHasher(algorithm: string): Hasher | null {
  if (algorithm === "sha1") return new BlockHasher(sha1Init(), sha1Block, 20);
  if (algorithm === "sha256") return new BlockHasher(sha256Init(), sha256Block, 32);
  return null;
}

/** The algorithms {@linkcode createHasher} supports, as tus names them. */
export const CHECKSUM_ALGORITHMS = ["sha1", "sha256"] as const;

type BlockFunction = (state: Uint32Array, block: DataView, at: number, words: Uint32Array) => void;

class BlockHasher implements Hasher {
  #state: Uint32Array;
  #block: BlockFunction;
  #size: number;
  #buffer = new Uint8Array(64);
  #view = new DataView(this.#buffer.buffer);
  #buffered = 0;
  #length = 0;
  #words = new Uint32Array(80);

  constructor(state: Uint32Array, block: BlockFunction, size: number) {
    this.#state = state;
    this.#block = block;
    this.#size = size;
  }

  update(bytes: Uint8Array): void {
    this.#length += bytes.byteLength;
    let at = 0;
    if (this.#buffered > 0) {
      const take = Math.min(64 - this.#buffered, bytes.byteLength);
      this.#buffer.set(bytes.subarray(0, take), this.#buffered);
      this.#buffered += take;
      at = take;
      if (this.#buffered < 64) return;
      this.#block(this.#state, this.#view, 0, this.#words);
      this.#buffered = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (; at + 64 <= bytes.byteLength; at += 64) this.#block(this.#state, view, at, this.#words);
    if (at < bytes.byteLength) {
      this.#buffer.set(bytes.subarray(at));
      this.#buffered = bytes.byteLength - at;
    }
  }

  digest(): Uint8Array {
    const bits = this.#length * 8;
    const padding = new Uint8Array(((this.#buffered < 56 ? 56 : 120) - this.#buffered) + 8);
    padding[0] = 0x80;
    const tail = new DataView(padding.buffer);
    tail.setUint32(padding.byteLength - 8, Math.floor(bits / 2 ** 32));
    tail.setUint32(padding.byteLength - 4, bits >>> 0);
    this.update(padding);
    const out = new Uint8Array(this.#size);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < this.#size / 4; i++) outView.setUint32(i * 4, this.#state[i]);
    return out;
  }
}

function sha1Init(): Uint32Array {
  return Uint32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0);
}

function sha1Block(state: Uint32Array, block: DataView, at: number, w: Uint32Array): void {
  for (let i = 0; i < 16; i++) w[i] = block.getUint32(at + i * 4);
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  for (let i = 0; i < 80; i++) {
    let f: number, k: number;
    if (i < 20) (f = (b & c) | (~b & d)), (k = 0x5a827999);
    else if (i < 40) (f = b ^ c ^ d), (k = 0x6ed9eba1);
    else if (i < 60) (f = (b & c) | (b & d) | (c & d)), (k = 0x8f1bbcdc);
    else (f = b ^ c ^ d), (k = 0xca62c1d6);
    const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
}

function sha256Init(): Uint32Array {
  return Uint32Array.of(
    0x6a09e667,
    0xbb67ae85,
    0x3c6ef372,
    0xa54ff53a,
    0x510e527f,
    0x9b05688c,
    0x1f83d9ab,
    0x5be0cd19,
  );
}

const K256 = Uint32Array.of(
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
);

function sha256Block(state: Uint32Array, block: DataView, at: number, w: Uint32Array): void {
  for (let i = 0; i < 16; i++) w[i] = block.getUint32(at + i * 4);
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15], y = w[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K256[i] + w[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}
