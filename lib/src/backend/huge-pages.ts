/**
 * Transparent huge pages for TensorFlow's buffers.
 *
 * TensorFlow keeps its tensors in a few large regions that it allocates
 * once (through glibc's malloc) and reuses for every step. On a kernel
 * whose transparent huge pages are `madvise` (Debian's default), those
 * regions get 4 KiB pages unless malloc asks for huge ones, which glibc
 * (2.35 and later) does with the tunable `glibc.malloc.hugetlb=1`. A
 * convolution then walks its activations through 2 MiB pages, with far
 * fewer TLB misses. The arithmetic is the same either way: only where the
 * bytes live changes.
 *
 * glibc reads its tunables once, as a process starts, so this cannot be
 * turned on from inside a running process: the project's commands start
 * their TensorFlow processes (the notebook kernel, sweep workers, benchmark
 * children) with it, through `withHugePages`. A user's own script gets it
 * by starting node with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`. Elsewhere
 * than glibc (macOS, musl) the variable means nothing and does nothing.
 */
import fs from 'node:fs';

/** The glibc tunable that makes malloc ask the kernel for transparent huge pages. */
export const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

const HUGETLB = 'glibc.malloc.hugetlb';

function tunables(env: NodeJS.ProcessEnv): string[] {
  return (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t.trim() !== '');
}

/**
 * A copy of `env` whose GLIBC_TUNABLES also asks for huge pages. A
 * `glibc.malloc.hugetlb` setting already there is the user's choice and
 * stays (`glibc.malloc.hugetlb=0` turns them off); other tunables are kept.
 */
export function withHugePages(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const have = tunables(env);
  if (have.some((t) => t.split('=')[0].trim() === HUGETLB)) return { ...env };
  return { ...env, GLIBC_TUNABLES: [...have, HUGE_PAGES_TUNABLE].join(':') };
}

/** A copy of `env` without any `glibc.malloc.hugetlb` tunable (for measuring what huge pages buy). */
export function withoutHugePages(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const rest = tunables(env).filter((t) => t.split('=')[0].trim() !== HUGETLB);
  const out = { ...env };
  if (rest.length > 0) out.GLIBC_TUNABLES = rest.join(':');
  else delete out.GLIBC_TUNABLES;
  return out;
}

/**
 * How much of this process's memory sits in transparent huge pages, in KiB
 * (`AnonHugePages` of /proc/self/smaps_rollup), or null where the kernel
 * does not say (not Linux).
 */
export function hugePageKb(): number | null {
  try {
    const m = /^AnonHugePages:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The kernel's transparent-huge-page mode ('always', 'madvise' or 'never'), or null where it does not say. */
export function transparentHugePageMode(): 'always' | 'madvise' | 'never' | null {
  try {
    const m = /\[(always|madvise|never)\]/.exec(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
    return m ? (m[1] as 'always' | 'madvise' | 'never') : null;
  } catch {
    return null;
  }
}
