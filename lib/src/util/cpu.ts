/**
 * Which vector instructions this CPU offers to TensorFlow's kernels. oneDNN
 * picks its convolution kernels by them, and kernels for different vector
 * widths round differently: the same run (same code, config and seed) is
 * identical bit for bit on one machine, but its curves drift apart on a CPU
 * with another vector width, and a long run ends elsewhere. So a run record
 * and the report say which one computed it. No dependencies: the report's
 * exporter imports it too.
 */
import fs from 'node:fs';

/** The widest vector extension the CPU has, widest first. */
export const VECTOR_EXTENSIONS = [
  ['avx512f', 'AVX-512'],
  ['avx2', 'AVX2'],
  ['avx', 'AVX'],
  ['sse4_2', 'SSE4.2'],
] as const;

export type VectorExtension = (typeof VECTOR_EXTENSIONS)[number][1];

/** The widest extension among the CPU flags of /proc/cpuinfo's text ('flags : fpu … avx2 …'); null when none is listed. */
export function widestVectorExtension(cpuinfo: string): VectorExtension | null {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  if (!line) return null;
  const flags = new Set(
    line
      .replace(/^flags\s*:/, '')
      .trim()
      .split(/\s+/),
  );
  for (const [flag, name] of VECTOR_EXTENSIONS) if (flags.has(flag)) return name;
  return null;
}

let cached: VectorExtension | null | undefined;

/** This machine's widest vector extension (Linux; null elsewhere or when unreadable). */
export function cpuVectorExtension(): VectorExtension | null {
  if (cached === undefined) {
    try {
      cached = widestVectorExtension(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      cached = null;
    }
  }
  return cached;
}
