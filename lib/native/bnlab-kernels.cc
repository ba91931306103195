// bnlab's own TensorFlow kernels, registered through TF's C kernel API
// (tensorflow/c/kernels.h, tensorflow/c/ops.h) when tfjs-node's addon loads.
// scripts/tfjs-node-patch.mjs copies this file next to the binding's sources
// and includes it from tfjs_backend.cc, so it is built into the addon.
//
// BnlabBatchNormTrain: training-mode batch norm over every axis but the last,
// with an optional residual input added and an optional ReLU, in two passes
// over the activations: one for the per-channel sums, one that writes
// relu(x * a + b + residual), where TF's path runs FusedBatchNormV3, then Add
// and Relu, each a pass of its own. Its outputs follow FusedBatchNormV3's, so that
// FusedBatchNormGradV3 takes the batch mean and (biased) variance it saves:
//   y, running mean, running variance (updated by exponential_avg_factor,
//   the variance Bessel-corrected), batch mean, batch variance.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"

namespace bnlab_kernels {

// The thread count TensorFlow's intra-op pool was sized to, which bnlab sets
// through TF_NUM_INTRAOP_THREADS before the library loads; else every core.
// A kernel splits its work into this many parts whatever the machine, so a
// run's numbers depend on the thread count only, as TF's own kernels' do.
static int ThreadCount() {
  const char *env = std::getenv("TF_NUM_INTRAOP_THREADS");
  int n = env ? std::atoi(env) : 0;
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  return n < 1 ? 1 : (n > 64 ? 64 : n);
}

// Runs f(0) … f(parts − 1), part 0 on the calling thread and the others on
// helper threads that sleep between calls. One call at a time: a caller that
// finds the helpers busy (another queue's kernel) runs every part itself, in
// order, which gives the same numbers since each part's work is the same.
//
// `more` says another call follows at once (a kernel's second pass): the
// helpers then spin for it, for up to kSpinMicros, instead of going to
// sleep and being woken, which takes tens of microseconds each time. After
// a kernel's last pass they sleep at once, leaving the cores to TF's threads.
class ForkJoin {
 public:
  explicit ForkJoin(int parts) : parts_(parts) {
    for (int i = 1; i < parts_; ++i) std::thread([this, i] { Helper(i); }).detach();
  }

  int parts() const { return parts_; }

  void Run(const std::function<void(int)> &f, bool more = false) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (parts_ == 1 || !busy.owns_lock()) {
      for (int i = 0; i < parts_; ++i) f(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &f;
      more_ = more;
      pending_.store(parts_ - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    start_.notify_all();
    f(0);
    if (!SpinUntil([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
  }

 private:
  static constexpr int kSpinMicros = 50;

  // Spins until done() or kSpinMicros pass; whether done() became true.
  template <typename Done>
  static bool SpinUntil(Done done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
    for (int i = 0;; ++i) {
      if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return false;
    }
  }

  void Helper(int index) {
    uint64_t seen = 0;
    bool spin = false;
    for (;;) {
      auto started = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      if (!(spin && SpinUntil(started))) {
        std::unique_lock<std::mutex> lock(mu_);
        start_.wait(lock, started);
      }
      const std::function<void(int)> *job;
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen = generation_.load(std::memory_order_relaxed);
        job = job_;
        spin = more_;
      }
      (*job)(index);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu_);
        done_.notify_one();
      }
    }
  }

  const int parts_;
  std::mutex busy_;
  std::mutex mu_;
  std::condition_variable start_;
  std::condition_variable done_;
  const std::function<void(int)> *job_ = nullptr;
  bool more_ = false;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
};

static ForkJoin &Pool() {
  static ForkJoin *pool = new ForkJoin(ThreadCount());  // never destroyed: helpers outlive main
  return *pool;
}

// Per-channel sum and sum of squares of rows [r0, r1) of x (rows × channels),
// into out[0, channels) and out[channels, 2·channels).
static void SumRows(const float *x, int64_t channels, int64_t r0, int64_t r1, double *out) {
  constexpr int64_t kBlock = 16;
  std::vector<float> bs(channels), bq(channels);
  for (int64_t start = r0; start < r1; start += kBlock) {
    const int64_t end = start + kBlock < r1 ? start + kBlock : r1;
    std::fill(bs.begin(), bs.end(), 0.0f);
    std::fill(bq.begin(), bq.end(), 0.0f);
    float *__restrict s = bs.data();
    float *__restrict q = bq.data();
    for (int64_t r = start; r < end; ++r) {
      const float *__restrict row = x + r * channels;
      for (int64_t c = 0; c < channels; ++c) {
        s[c] += row[c];
        q[c] += row[c] * row[c];
      }
    }
    for (int64_t c = 0; c < channels; ++c) {
      out[c] += s[c];
      out[channels + c] += q[c];
    }
  }
}

// y = x·a + b (+ side), then max(·, 0) if relu, over `rows` rows. The
// branches are outside the loops so that each loop vectorises. `v < 0 ? 0 : v`
// keeps a NaN a NaN, as TF's Relu does, so a run that diverges is seen to.
template <bool kSide, bool kRelu>
static void ApplyRowsT(const float *__restrict x, const float *__restrict side, const float *__restrict a, const float *__restrict b,
                       int64_t channels, int64_t rows, float *__restrict y) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      float v = x[c] * a[c] + b[c];
      if (kSide) v += side[c];
      if (kRelu) v = v < 0 ? 0 : v;
      y[c] = v;
    }
    x += channels;
    y += channels;
    if (kSide) side += channels;
  }
}

static void ApplyRows(const float *x, const float *side, const float *a, const float *b, int64_t channels, int64_t rows, bool relu, float *y) {
  if (side) {
    (relu ? ApplyRowsT<true, true> : ApplyRowsT<true, false>)(x, side, a, b, channels, rows, y);
  } else {
    (relu ? ApplyRowsT<false, true> : ApplyRowsT<false, false>)(x, side, a, b, channels, rows, y);
  }
}

struct BatchNormAttrs {
  float epsilon;
  float exponential_avg_factor;
  bool relu;
  int64_t num_side;
};

static void *BatchNormCreate(TF_OpKernelConstruction *ctx) {
  auto *a = new BatchNormAttrs();
  TF_Status *s = TF_NewStatus();
  TF_Bool relu = 0;
  TF_OpKernelConstruction_GetAttrFloat(ctx, "epsilon", &a->epsilon, s);
  if (TF_GetCode(s) == TF_OK) TF_OpKernelConstruction_GetAttrFloat(ctx, "exponential_avg_factor", &a->exponential_avg_factor, s);
  if (TF_GetCode(s) == TF_OK) TF_OpKernelConstruction_GetAttrBool(ctx, "relu", &relu, s);
  if (TF_GetCode(s) == TF_OK) TF_OpKernelConstruction_GetAttrInt64(ctx, "num_side", &a->num_side, s);
  if (TF_GetCode(s) != TF_OK) TF_OpKernelConstruction_Failure(ctx, s);
  a->relu = relu != 0;
  TF_DeleteStatus(s);
  return a;
}

static void BatchNormDelete(void *kernel) { delete static_cast<BatchNormAttrs *>(kernel); }

static void BatchNormCompute(void *kernel, TF_OpKernelContext *ctx) {
  const BatchNormAttrs &attrs = *static_cast<BatchNormAttrs *>(kernel);
  TF_Status *s = TF_NewStatus();
  const int num_inputs = 5 + static_cast<int>(attrs.num_side);
  std::vector<TF_Tensor *> in(num_inputs, nullptr);
  for (int i = 0; i < num_inputs && TF_GetCode(s) == TF_OK; ++i) TF_GetInput(ctx, i, &in[i], s);
  std::vector<TF_Tensor *> out;
  auto finish = [&] {
    if (TF_GetCode(s) != TF_OK) TF_OpKernelContext_Failure(ctx, s);
    for (TF_Tensor *t : in) TF_DeleteTensor(t);
    for (TF_Tensor *t : out) TF_DeleteTensor(t);
    TF_DeleteStatus(s);
  };
  if (TF_GetCode(s) != TF_OK) return finish();

  TF_Tensor *x = in[0];
  const int rank = TF_NumDims(x);
  if (rank < 1) {
    TF_SetStatus(s, TF_INVALID_ARGUMENT, "BnlabBatchNormTrain: x must have rank >= 1");
    return finish();
  }
  std::vector<int64_t> dims(rank);
  for (int i = 0; i < rank; ++i) dims[i] = TF_Dim(x, i);
  const int64_t channels = dims[rank - 1];
  const int64_t count = TF_TensorElementCount(x);
  const int64_t rows = channels > 0 ? count / channels : 0;
  for (int i = 1; i < 5; ++i) {
    if (TF_NumDims(in[i]) != 1 || TF_Dim(in[i], 0) != channels) {
      TF_SetStatus(s, TF_INVALID_ARGUMENT, "BnlabBatchNormTrain: scale, offset, mean and variance must be vectors of x's last dimension");
      return finish();
    }
  }
  const float *side = nullptr;
  if (attrs.num_side > 0) {
    if (TF_TensorElementCount(in[5]) != count || TF_NumDims(in[5]) != rank) {
      TF_SetStatus(s, TF_INVALID_ARGUMENT, "BnlabBatchNormTrain: the residual input must have x's shape");
      return finish();
    }
    side = static_cast<const float *>(TF_TensorData(in[5]));
  }

  const size_t vec_bytes = channels * sizeof(float);
  out.push_back(TF_AllocateOutput(ctx, 0, TF_FLOAT, dims.data(), rank, count * sizeof(float), s));
  for (int i = 1; i < 5 && TF_GetCode(s) == TF_OK; ++i) out.push_back(TF_AllocateOutput(ctx, i, TF_FLOAT, &channels, 1, vec_bytes, s));
  if (TF_GetCode(s) != TF_OK) return finish();

  const float *xd = static_cast<const float *>(TF_TensorData(x));
  const float *scale = static_cast<const float *>(TF_TensorData(in[1]));
  const float *offset = static_cast<const float *>(TF_TensorData(in[2]));
  const float *old_mean = static_cast<const float *>(TF_TensorData(in[3]));
  const float *old_var = static_cast<const float *>(TF_TensorData(in[4]));
  float *y = static_cast<float *>(TF_TensorData(out[0]));
  float *running_mean = static_cast<float *>(TF_TensorData(out[1]));
  float *running_var = static_cast<float *>(TF_TensorData(out[2]));
  float *batch_mean = static_cast<float *>(TF_TensorData(out[3]));
  float *batch_var = static_cast<float *>(TF_TensorData(out[4]));

  ForkJoin &pool = Pool();
  const int parts = pool.parts();
  auto part_rows = [&](int p, int64_t *r0, int64_t *r1) {
    *r0 = rows * p / parts;
    *r1 = rows * (p + 1) / parts;
  };

  // Pass 1: each part's per-channel sum and sum of squares. Blocks of rows
  // are summed in float, which vectorises, and the blocks in double, so
  // that the variance as E[x²] − mean² keeps float precision.
  std::vector<double> partial(static_cast<size_t>(parts) * 2 * channels, 0.0);
  pool.Run([&](int p) {
    int64_t r0, r1;
    part_rows(p, &r0, &r1);
    SumRows(xd, channels, r0, r1, &partial[static_cast<size_t>(p) * 2 * channels]);
  }, /*more=*/true);

  // The statistics, the parts added in order; then y = x·a + b with
  // a = scale / √(var + ε) and b = offset − mean·a, as FusedBatchNormV3.
  std::vector<float> a(channels), b(channels);
  const float f = attrs.exponential_avg_factor;
  const float bessel = rows > 1 ? static_cast<float>(rows) / static_cast<float>(rows - 1) : 1.0f;
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0, sq = 0;
    for (int p = 0; p < parts; ++p) {
      sum += partial[static_cast<size_t>(p) * 2 * channels + c];
      sq += partial[static_cast<size_t>(p) * 2 * channels + channels + c];
    }
    const double mean = rows > 0 ? sum / rows : 0.0;
    double var = rows > 0 ? sq / rows - mean * mean : 0.0;
    if (var < 0) var = 0;  // rounding; NaN stays NaN
    batch_mean[c] = static_cast<float>(mean);
    batch_var[c] = static_cast<float>(var);
    a[c] = scale[c] / std::sqrt(batch_var[c] + attrs.epsilon);
    b[c] = offset[c] - batch_mean[c] * a[c];
    if (f == 1.0f) {
      running_mean[c] = batch_mean[c];
      running_var[c] = batch_var[c] * bessel;
    } else {
      running_mean[c] = (1 - f) * old_mean[c] + f * batch_mean[c];
      running_var[c] = (1 - f) * old_var[c] + f * (batch_var[c] * bessel);
    }
  }

  // Pass 2.
  pool.Run([&](int p) {
    int64_t r0, r1;
    part_rows(p, &r0, &r1);
    const float *sr = side ? side + r0 * channels : nullptr;
    ApplyRows(xd + r0 * channels, sr, a.data(), b.data(), channels, r1 - r0, attrs.relu, y + r0 * channels);
  });
  finish();
}

// Outputs: y as x; the four statistics as scale.
static void BatchNormShape(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *x = TF_NewShapeHandle();
  TF_ShapeHandle *vec = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, x, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 1, vec, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, x, status);
  for (int i = 1; i < 5 && TF_GetCode(status) == TF_OK; ++i) TF_ShapeInferenceContextSetOutput(ctx, i, vec, status);
  TF_DeleteShapeHandle(x);
  TF_DeleteShapeHandle(vec);
}

static bool Register() {
  TF_Status *s = TF_NewStatus();
  TF_OpDefinitionBuilder *op = TF_NewOpDefinitionBuilder("BnlabBatchNormTrain");
  for (const char *input : {"x: float", "scale: float", "offset: float", "mean: float", "variance: float", "side: num_side * float"}) {
    TF_OpDefinitionBuilderAddInput(op, input);
  }
  for (const char *output : {"y: float", "running_mean: float", "running_variance: float", "batch_mean: float", "batch_variance: float"}) {
    TF_OpDefinitionBuilderAddOutput(op, output);
  }
  for (const char *attr : {"epsilon: float = 0.001", "exponential_avg_factor: float = 1.0", "relu: bool = false", "num_side: int >= 0 = 0"}) {
    TF_OpDefinitionBuilderAddAttr(op, attr);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(op, &BatchNormShape);
  TF_RegisterOpDefinition(op, s);
  if (TF_GetCode(s) == TF_OK) {
    TF_KernelBuilder *k = TF_NewKernelBuilder("BnlabBatchNormTrain", "CPU", &BatchNormCreate, &BatchNormCompute, &BatchNormDelete);
    TF_RegisterKernelBuilder("BnlabBatchNormTrainOp", k, s);
  }
  const bool ok = TF_GetCode(s) == TF_OK;
  TF_DeleteStatus(s);
  return ok;
}

// Registered as the addon loads (libtensorflow, which it links, is loaded by then).
static const bool registered = Register();

}  // namespace bnlab_kernels
