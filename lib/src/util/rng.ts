/**
 * A small seeded random number generator, so that data order and weight
 * initialisation repeat exactly for a given seed, on every backend.
 * (tfjs's own seeded ops differ between backends; these numbers do not.)
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    // Spread small integer seeds over the 32-bit state space.
    this.state = Math.imul(Math.floor(seed) ^ 0x9e3779b9, 0x85ebca6b) >>> 0 || 1;
  }

  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A Float32Array of N(0, std²) samples. */
  normalArray(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /** A Float32Array of U(-limit, limit) samples. */
  uniformArray(n: number, limit: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.next() * 2 - 1) * limit;
    return out;
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** A new generator derived from this one, for an independent stream. */
  fork(salt: number): Rng {
    return new Rng(Math.floor(this.next() * 2 ** 31) ^ salt);
  }
}
