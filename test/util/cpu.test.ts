/**
 * The CPU's widest vector extension, which decides TensorFlow's kernels and
 * so the last bits of every trained number: read from /proc/cpuinfo's flags,
 * recorded with each run, and shown in the report's machine line.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { cpuVectorExtension, widestVectorExtension } from '../../lib/src/util/cpu';

const cpuinfo = (flags: string) => `processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: ${flags}\nbogomips\t: 4890.80\n`;

describe('widestVectorExtension', () => {
  it('names the widest extension among the flags', () => {
    assert.equal(widestVectorExtension(cpuinfo('fpu vme sse4_2 avx avx2 fma avx512f avx512dq')), 'AVX-512');
    assert.equal(widestVectorExtension(cpuinfo('fpu vme sse4_2 avx f16c avx2 fma')), 'AVX2');
    assert.equal(widestVectorExtension(cpuinfo('fpu sse4_2 avx')), 'AVX');
    assert.equal(widestVectorExtension(cpuinfo('fpu sse4_2')), 'SSE4.2');
  });
  it('matches whole flags only (avx512_bf16 alone is not avx512f; avx2 is not avx)', () => {
    assert.equal(widestVectorExtension(cpuinfo('fpu avx512_bf16 avx')), 'AVX');
    assert.equal(widestVectorExtension(cpuinfo('fpu xavx2 sse4_2')), 'SSE4.2');
  });
  it('is null without a flags line or without any of them', () => {
    assert.equal(widestVectorExtension('processor\t: 0\n'), null);
    assert.equal(widestVectorExtension(cpuinfo('fpu vme')), null);
  });
  it('reads this machine', () => {
    const text = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : null;
    assert.equal(cpuVectorExtension(), text === null ? null : widestVectorExtension(text));
  });
});
