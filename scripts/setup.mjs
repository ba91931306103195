#!/usr/bin/env node
// One idempotent set-up for a fresh clone. `npm test`, `npm run report` and
// `npm run bench` call it first, so nobody has to remember a manual step.
// Every step checks a stamp and returns at once when its inputs are unchanged.
//
// Steps:
//   python   the pinned Jupyter side (JupyterLab, nbclient) in .venv
//   native   @tensorflow/tfjs-node's addon, built against the TensorFlow C
//            library inside PyPI's tensorflow-cpu wheel (hash-checked),
//            because tfjs-node's own install script downloads libtensorflow
//            from a storage bucket this project cannot rely on
//   stderr   lib/native's stderr-redirect addon, with which bnlab filters what
//            TensorFlow logs while its library loads (lib/src/backend/tf-log.ts)
//   lib      lib/ compiled to lib/dist (the `bnlab` package notebooks import)
//   kernel   a tslab kernelspec that lives in .venv, not in the user's home
//
// Usage: node scripts/setup.mjs [--only=python,native,stderr,lib,kernel] [--quiet]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { patchHash, patchTfjsNode } from './tfjs-node-patch.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const only = (args.find((a) => a.startsWith('--only=')) ?? '').slice(7).split(',').filter(Boolean);

// The TensorFlow C library comes from this exact wheel. Its hash is checked
// before anything is extracted from it.
export const TF_WHEEL = {
  requirement: 'tensorflow-cpu==2.21.0',
  file: 'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl',
  sha256: '2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c',
  libtensorflowVersion: '2.21.0',
};

const cacheDir = process.env.BNLAB_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'bnlab');
const venv = path.join(root, '.venv');
const venvPython = path.join(venv, 'bin', 'python');
const tfjsNode = path.join(root, 'node_modules', '@tensorflow', 'tfjs-node');

function log(msg) {
  if (!quiet) console.error(`[setup] ${msg}`);
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) {
    const tail = quiet ? `\n${(r.stdout ?? '').toString().slice(-2000)}${(r.stderr ?? '').toString().slice(-4000)}` : '';
    throw new Error(`${cmd} ${argv.join(' ')} exited with ${r.status ?? r.signal}${tail}`);
  }
  return r;
}

function sha256File(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 22);
  let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return h.digest('hex');
}

function hashOf(...parts) {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

function stampMatches(file, value) {
  try {
    return fs.readFileSync(file, 'utf8').trim() === value;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- python
function setupPython() {
  const reqs = fs.readFileSync(path.join(root, 'requirements.txt'), 'utf8');
  const stamp = path.join(venv, '.bnlab-stamp');
  const want = hashOf(reqs, process.versions.node);
  if (fs.existsSync(venvPython) && stampMatches(stamp, want)) return 'cached';
  if (!fs.existsSync(venvPython)) {
    log('creating .venv (Python ' + execFileSync('python3', ['--version']).toString().trim() + ')');
    run('python3', ['-m', 'venv', venv]);
  }
  log('installing the pinned Jupyter side into .venv (requirements.txt)');
  // --no-compile: byte-compiling every module of JupyterLab took 12 of
  // pip's 37 s here; Python compiles what it imports when it imports it.
  run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-compile', '-r', path.join(root, 'requirements.txt')]);
  fs.writeFileSync(stamp, want + '\n');
  return 'installed';
}

// ---------------------------------------------------------------- native
function nativeLoads() {
  const r = spawnSync(process.execPath, ['-e', "require('@tensorflow/tfjs-node')"], {
    cwd: root,
    stdio: 'pipe',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
  });
  return r.status === 0;
}

function fetchWheel() {
  const dir = path.join(cacheDir, 'wheels');
  const file = path.join(dir, TF_WHEEL.file);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    log(`downloading ${TF_WHEEL.requirement} from PyPI (about 270 MB, cached in ${dir})`);
    const python = fs.existsSync(venvPython) ? venvPython : 'python3';
    run(python, ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps',
      '--only-binary=:all:', '--python-version', '3.11', '--platform', 'manylinux_2_27_x86_64',
      '-d', dir, TF_WHEEL.requirement]);
  }
  const got = sha256File(file);
  if (got !== TF_WHEEL.sha256) {
    fs.rmSync(file);
    throw new Error(`${file}: sha256 ${got} is not the pinned ${TF_WHEEL.sha256}; the file was removed, run the set-up again`);
  }
  return file;
}

function setupNative() {
  if (!fs.existsSync(tfjsNode)) throw new Error('node_modules/@tensorflow/tfjs-node is missing: run `npm ci` first');
  const stamp = path.join(tfjsNode, 'deps', '.bnlab-stamp');
  const want = hashOf(TF_WHEEL.sha256, process.versions.node, process.versions.napi, fs.readFileSync(path.join(tfjsNode, 'package.json'), 'utf8'), patchHash());
  if (stampMatches(stamp, want) && nativeLoads()) return 'cached';
  if (os.platform() !== 'linux' || os.arch() !== 'x64') {
    // Elsewhere tfjs-node's own installer is the way; bnlab falls back to wasm
    // at run time if that did not work either.
    log(`no pinned TensorFlow wheel for ${os.platform()}-${os.arch()}; running tfjs-node's own installer`);
    run(process.execPath, ['scripts/install.js'], { cwd: tfjsNode });
    return 'upstream';
  }
  const wheel = fetchWheel();
  const deps = path.join(tfjsNode, 'deps');
  const libDir = path.join(deps, 'lib');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(libDir, { recursive: true });
  log('extracting libtensorflow_cc, libtensorflow_framework and the C headers from the wheel');
  // The wheel is a zip. Only the two libraries and the headers the addon's
  // sources reach are taken out (the whole include tree is 290 MB); the C
  // kernel API's (bnlab's kernels) reach one outside tensorflow/c.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-tf-'));
  try {
    run('python3', ['-c', `
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
keep = ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2')
inc = 'tensorflow/include/'
headers = ('tensorflow/c/', 'tensorflow/core/platform/', 'tsl/', 'xla/tsl/c/', 'tensorflow/core/common_runtime/next_pluggable_device/c/')
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if n in keep or (n.startswith(inc) and n[len(inc):].startswith(headers)):
            z.extract(n, out)
`, wheel, tmp]);
    const tfDir = path.join(tmp, 'tensorflow');
    fs.renameSync(path.join(tfDir, 'libtensorflow_cc.so.2'), path.join(libDir, 'libtensorflow_cc.so.2'));
    fs.renameSync(path.join(tfDir, 'libtensorflow_framework.so.2'), path.join(libDir, 'libtensorflow_framework.so.2'));
    fs.renameSync(path.join(tfDir, 'include'), path.join(deps, 'include'));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  // The addon links -ltensorflow -ltensorflow_framework; the C API lives in
  // libtensorflow_cc, whose SONAME the loader then looks for.
  fs.symlinkSync('libtensorflow_cc.so.2', path.join(libDir, 'libtensorflow.so.2'));
  fs.symlinkSync('libtensorflow.so.2', path.join(libDir, 'libtensorflow.so'));
  fs.symlinkSync('libtensorflow_framework.so.2', path.join(libDir, 'libtensorflow_framework.so'));

  // The binding's sources are patched from a pristine copy kept beside
  // them, so that a changed patch applies to the original, not on top.
  const bindingDir = path.join(tfjsNode, 'binding');
  const pristine = path.join(tfjsNode, '.bnlab-pristine-binding');
  if (!fs.existsSync(pristine)) fs.cpSync(bindingDir, pristine, { recursive: true });
  fs.rmSync(bindingDir, { recursive: true, force: true });
  fs.cpSync(pristine, bindingDir, { recursive: true });
  log(`patching tfjs-node's binding (asynchronous execution, scripts/tfjs-node-patch.mjs): ${patchTfjsNode(tfjsNode)}`);
  log('building the tfjs-node addon from source against the wheel\'s library');
  const nodedir = fs.existsSync('/usr/include/node/node.h') ? ['--nodedir=/usr'] : [];
  const preGyp = path.join(root, 'node_modules', '.bin', 'node-pre-gyp');
  run(preGyp, ['install', '--build-from-source', ...nodedir], { cwd: tfjsNode });
  if (!nativeLoads()) throw new Error('the tfjs-node addon was built but does not load');
  fs.writeFileSync(stamp, want + '\n');
  fs.writeFileSync(path.join(deps, 'libtensorflow-version'), TF_WHEEL.libtensorflowVersion + '\n');
  return 'built';
}

// ---------------------------------------------------------------- stderr
function setupStderr() {
  // One C file against Node-API's header, so the C compiler alone builds it.
  const src = path.join(root, 'lib', 'native', 'stderr-redirect.c');
  const out = path.join(root, 'lib', 'native', 'build', 'stderr_redirect.node');
  const stamp = out + '.stamp';
  const want = hashOf(fs.readFileSync(src, 'utf8'), process.versions.node, process.versions.napi);
  if (fs.existsSync(out) && stampMatches(stamp, want)) return 'cached';
  if (os.platform() !== 'linux') return `skipped (${os.platform()}): TensorFlow's load-time log is not filtered`;
  const include = ['/usr/include/node', path.join(path.dirname(process.execPath), '..', 'include', 'node')]
    .find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (!include) return "skipped (no node_api.h): TensorFlow's load-time log is not filtered";
  fs.mkdirSync(path.dirname(out), { recursive: true });
  run(process.env.CC || 'cc', ['-shared', '-fPIC', '-O2', '-Wall', `-I${include}`, '-o', out, src]);
  fs.writeFileSync(stamp, want + '\n');
  return 'built';
}

// ---------------------------------------------------------------- lib
function setupLib() {
  const tsc = path.join(root, 'node_modules', '.bin', 'tsc');
  run(tsc, ['-p', path.join(root, 'lib')]); // incremental: fast when nothing changed
  return 'compiled';
}

// ---------------------------------------------------------------- kernel
function setupKernel() {
  // The kernelspec lives in the project's .venv (jupyter looks in
  // sys.prefix/share/jupyter/kernels), so nothing is written to ~/.local.
  const dir = path.join(venv, 'share', 'jupyter', 'kernels', 'bnlab-tslab');
  const spec = {
    argv: [process.execPath, path.join(root, 'node_modules', 'tslab', 'bin', 'tslab'), 'kernel', '--config-path', '{connection_file}'],
    display_name: 'TypeScript (bnlab)',
    language: 'typescript',
    // GLIBC_TUNABLES: TensorFlow's buffers in transparent huge pages, as the
    // project's other TensorFlow processes get them (lib/src/backend/huge-pages.ts).
    env: { TF_CPP_MIN_LOG_LEVEL: '2', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' },
  };
  const text = JSON.stringify(spec, null, 2) + '\n';
  const file = path.join(dir, 'kernel.json');
  if (stampMatches(file, text.trim())) return 'cached';
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, text);
  return 'written';
}

const steps = { python: setupPython, native: setupNative, stderr: setupStderr, lib: setupLib, kernel: setupKernel };

// In a fresh clone the Python side (pip, about 40 s, mostly waiting on
// files) and the addon's build (the compiler, about 25 s) each leave a core
// idle: the Python step runs in a second process beside native, stderr and
// lib, and the kernel step, which writes into .venv, waits for it. Only
// once the wheel is cached: its download uses the venv's pip.
const wheelCached = fs.existsSync(path.join(cacheDir, 'wheels', TF_WHEEL.file));
const want = (name) => !only.length || only.includes(name);
const pythonBeside = wheelCached && want('python') && (want('native') || want('stderr') || want('lib')) && !process.env.BNLAB_SETUP_CHILD;
let pythonDone = null;
if (pythonBeside) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--only=python', ...(quiet ? ['--quiet'] : [])], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, BNLAB_SETUP_CHILD: '1' },
  });
  pythonDone = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

for (const [name, step] of Object.entries(steps)) {
  if (!want(name)) continue;
  if (name === 'python' && pythonBeside) continue;
  if (name === 'kernel' && pythonDone) {
    const code = await pythonDone;
    if (code !== 0) process.exit(1); // the Python step said why
  }
  const t0 = Date.now();
  try {
    const what = step();
    log(`${name}: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    if (name === 'stderr') {
      // Not fatal either: only TensorFlow's load-time log goes unfiltered.
      console.error(`[setup] stderr: the stderr-redirect addon could not be built; TensorFlow's load-time log will not be filtered.\n  ${err.message}`);
      continue;
    }
    if (name === 'native') {
      // Not fatal: bnlab runs on the wasm backend and says why.
      console.error(`[setup] native: the TensorFlow backend could not be set up, bnlab will fall back to wasm.\n  ${err.message}`);
      continue;
    }
    console.error(`[setup] ${name} failed: ${err.message}`);
    process.exit(1);
  }
}
if (pythonDone && (await pythonDone) !== 0) process.exit(1);
