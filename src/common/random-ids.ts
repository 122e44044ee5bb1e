import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;

/**
 * Trace and span ids as the W3C trace context wants them (random, lowercase
 * hex, never all zeros), cut from a pool of crypto-random bytes: one hex
 * conversion per id and a refill every ~170 spans. The SDK's own generator
 * calls Math.random and converts per id, which at thousands of checks a
 * second was 6 % of the CPU of a check with span export. It is structurally
 * the SDK's `IdGenerator`, so `startTelemetry()` hands it to the tracer provider.
 */
export class RandomIds {
  readonly #pool = Buffer.allocUnsafe(POOL_BYTES);
  readonly #fill: (pool: Buffer) => void;
  #offset = POOL_BYTES;

  /** @param fill fills the pool with random bytes (tests pass a seeded one) */
  constructor(fill: (pool: Buffer) => void = randomFillSync) {
    this.#fill = fill;
  }

  /** 16 random bytes as 32 hex digits. */
  generateTraceId(): string {
    return this.#hex(16);
  }

  /** 8 random bytes as 16 hex digits. */
  generateSpanId(): string {
    return this.#hex(8);
  }

  #hex(bytes: number): string {
    if (this.#offset + bytes > POOL_BYTES) {
      this.#fill(this.#pool);
      this.#offset = 0;
    }
    const at = this.#offset;
    this.#offset += bytes;
    // All zeros is an invalid id (one chance in 2^64 for a span id): its last byte becomes 1, as the SDK does.
    if (this.#pool[at + bytes - 1] === 0 && this.#pool.subarray(at, at + bytes).every((b) => b === 0)) this.#pool[at + bytes - 1] = 1;
    return this.#pool.toString('hex', at, at + bytes);
  }
}
