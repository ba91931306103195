#!/usr/bin/env python3
"""PyTorch (CPU) counterpart of bnlab's training-throughput benchmark.

Trains the CIFAR ResNet-20 of He et al. (2016) exactly as bnlab builds it
(lib/src/models/resnet.ts) on one fixed synthetic batch, and prints ONE JSON
line with the same fields as bnlab's bench plus framework/config details.

  stem      conv3x3(3->16) -> [BN] -> ReLU
  stages    3 x n basic blocks (n = 3), widths 16, 32, 64; the first block of
            stages 2 and 3 has stride 2
  block     conv3x3 -> [BN] -> ReLU -> conv3x3 -> [BN] -> (+ shortcut) -> ReLU
  shortcut  "option A": identity, or x[:, :, ::2, ::2] with the channels
            zero-padded evenly on both sides (parameter-free)
  head      global average pool -> linear(64 -> 10) with bias
  convs     no bias with BN (--norm batch), bias without (--norm none)
  final-only  (--norm final-only, as bnlab) convs with bias, no inner BN, one
            BN on the last features before the pool
  init      Xavier/Glorot uniform for convs and linear, biases 0, BN 1/0
  loss      mean cross-entropy; SGD lr 0.1, momentum 0.9, weight decay 1e-4

Each timed step is a full training step: zero_grad, forward, loss, backward,
optimizer.step. The reported msPerStep is the median over the timed steps
that follow the warm-up steps.

glibc malloc tunables cannot be changed from inside a running process; the
"best" configuration sets GLIBC_TUNABLES in the environment of a fresh
process (bench/torch.ts does; --malloc-tunables makes this script re-exec
itself with them).

Usage:
  python resnet_bench.py [--norm batch|none|final-only] [--steps 30] [--warmup 5]
                         [--batch 128] [--channels-last] [--threads 2]
                         [--seed 0] [--malloc-tunables] [--huge-pages] [--config NAME]
  python resnet_bench.py --count-macs     # {"macsPerImageForward": ...}
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings

# The CPU wheel warns at import when NumPy is absent; NumPy is not needed here.
warnings.filterwarnings('ignore', message='.*Failed to initialize NumPy.*')

MALLOC_TUNABLES = ('glibc.malloc.mmap_threshold=33554432'
                   ':glibc.malloc.trim_threshold=4294967296'
                   ':glibc.malloc.top_pad=268435456')
# Transparent huge pages for malloc's memory, as bnlab's processes get them
# (lib/src/backend/huge-pages.ts).
HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1'

INPUT_SHAPE = (32, 32, 3)  # H, W, C as bnlab reports it
NUM_CLASSES = 10
DEPTH = 20
WIDTH = 16
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--norm', choices=('batch', 'none', 'final-only'), default='batch')
    p.add_argument('--steps', type=int, default=30, help='timed steps after the warm-up (default 30)')
    p.add_argument('--warmup', type=int, default=5, help='untimed steps first (default 5)')
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--channels-last', action='store_true', help='NHWC memory format for the model and the input')
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads (default 2)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--malloc-tunables', action='store_true',
                   help='re-exec with GLIBC_TUNABLES set to the large-heap malloc settings')
    p.add_argument('--huge-pages', action='store_true',
                   help='re-exec with glibc.malloc.hugetlb=1 in GLIBC_TUNABLES (transparent huge pages)')
    p.add_argument('--config', default=None, help='label for the "config" field (default: derived)')
    p.add_argument('--all-steps', action='store_true', help='also print msPerStepAll (every timed step)')
    p.add_argument('--count-macs', action='store_true', help='print {"macsPerImageForward": ...} and exit')
    a = p.parse_args(argv)
    if a.steps < 1 or a.warmup < 0 or a.batch < 1 or a.threads < 1:
        p.error('--steps, --batch and --threads must be >= 1, --warmup >= 0')
    return a


def build(norm):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    bn = norm == 'batch'

    def conv(cin, cout, stride):
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not bn)

    def norm_layer(c):
        # PyTorch's defaults (momentum 0.1, eps 1e-5) are bnlab's defaults.
        return nn.BatchNorm2d(c) if bn else nn.Identity()

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1, self.bn1 = conv(cin, cout, stride), norm_layer(cout)
            self.conv2, self.bn2 = conv(cout, cout, 1), norm_layer(cout)
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            s = x
            if self.stride != 1 or self.extra:
                if self.stride != 1:
                    s = s[:, :, ::self.stride, ::self.stride]
                if self.extra:
                    lo = self.extra // 2
                    s = F.pad(s, (0, 0, 0, 0, lo, self.extra - lo))
            return F.relu(y + s)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            n = (DEPTH - 2) // 6
            self.stem_conv, self.stem_bn = conv(INPUT_SHAPE[2], WIDTH, 1), norm_layer(WIDTH)
            blocks, c = [], WIDTH
            for s in range(3):
                out = WIDTH * 2 ** s
                for b in range(n):
                    blocks.append(Block(c, out, 2 if s > 0 and b == 0 else 1))
                    c = out
            self.blocks = nn.Sequential(*blocks)
            self.final_bn = nn.BatchNorm2d(c) if norm == 'final-only' else nn.Identity()
            self.fc = nn.Linear(c, NUM_CLASSES)
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            x = F.relu(self.stem_bn(self.stem_conv(x)))
            x = self.final_bn(self.blocks(x))
            x = x.mean(dim=(2, 3))
            return self.fc(x)

    return ResNet()


def count_macs(model):
    """Multiply-adds of one image's forward pass through the convs and the linear layer, found by hooks."""
    import torch
    import torch.nn as nn

    total = [0]

    def conv_hook(m, _inp, out):
        # out: [N, Cout, H, W]; each output element costs Cin/groups * kh * kw MACs.
        kh, kw = m.kernel_size
        total[0] += out[0].numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m, _inp, out):
        total[0] += out[0].numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        h, w, c = INPUT_SHAPE
        model(torch.zeros(1, c, h, w))
    model.train(was_training)
    for hk in hooks:
        hk.remove()
    return total[0]


def huge_page_kb():
    """AnonHugePages of /proc/self/smaps_rollup in KiB, or None where the kernel does not say."""
    try:
        with open('/proc/self/smaps_rollup') as f:
            for line in f:
                if line.startswith('AnonHugePages:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main(argv):
    a = parse_args(argv)
    wanted = ([MALLOC_TUNABLES] if a.malloc_tunables else []) + ([HUGE_PAGES_TUNABLE] if a.huge_pages else [])
    have = os.environ.get('GLIBC_TUNABLES', '')
    if wanted and not all(t in have.split(':') for t in ':'.join(wanted).split(':')):
        env = dict(os.environ, GLIBC_TUNABLES=':'.join(wanted))
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv], env)

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = build(a.norm)
    macs = count_macs(model)
    if a.count_macs:
        params = sum(p.numel() for p in model.parameters())
        print(json.dumps({'macsPerImageForward': macs, 'params': params, 'norm': a.norm}), flush=True)
        return 0

    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    h, w, c = INPUT_SHAPE
    g = torch.Generator().manual_seed(a.seed + 1)
    x = torch.randn(a.batch, c, h, w, generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, NUM_CLASSES, (a.batch,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    times, losses = [], []
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    switches0 = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())  # after the clock: the step has already run (CPU ops are synchronous)
        if i >= a.warmup:
            times.append(dt * 1e3)
        if i + 1 == a.warmup:
            faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            switches0 = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw

    ms = statistics.median(times)
    tunables = os.environ.get('GLIBC_TUNABLES', '')
    malloc_tunables = all(t in tunables.split(':') for t in MALLOC_TUNABLES.split(':'))
    huge_pages = HUGE_PAGES_TUNABLE in tunables.split(':')
    channels_last = a.channels_last
    config = a.config or ('best' if channels_last and malloc_tunables else
                          'default' if not channels_last and not malloc_tunables else 'custom')
    flop_per_step = 3 * 2 * macs * a.batch  # forward + ~2x backward, 2 FLOPs per MAC
    out = {
        'framework': 'torch',
        'backend': 'cpu',
        'model': 'resnet20',
        'norm': a.norm,
        'input': list(INPUT_SHAPE),
        'batch': a.batch,
        'imagesPerSec': a.batch / (ms / 1e3),
        'msPerStep': ms,
        'gflopsPerSec': flop_per_step / (ms / 1e3) / 1e9,
        'steps': a.steps,
        'warmup': a.warmup,
        'config': config,
        'memoryFormat': 'channels_last' if channels_last else 'nchw',
        'mallocTunables': malloc_tunables,
        'hugePages': huge_pages,
        # How much of the process sat in transparent huge pages (KiB), as bnlab's bench reports it.
        'hugePageKb': huge_page_kb(),
        'threads': torch.get_num_threads(),
        'macsPerImageForward': macs,
        'gflopPerStep': flop_per_step / 1e9,
        'msPerStepMin': min(times),
        'msPerStepMax': max(times),
        'lossFirst': losses[0],
        'lossLast': losses[-1],
        # Minor page faults per timed step: high when freed buffers go back to the OS and come back.
        'pageFaultsPerStep': (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / a.steps,
        # Voluntary context switches per timed step (all threads), as bnlab's bench reports them.
        'contextSwitchesPerStep': round((resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - switches0) / a.steps),
        'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'torchVersion': torch.__version__,
        'python': platform.python_version(),
    }
    if a.all_steps:
        out['msPerStepAll'] = times
    print(json.dumps(out), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
