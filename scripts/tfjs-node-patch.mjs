/**
 * bnlab's patch to tfjs-node's C++ binding, applied by scripts/setup.mjs
 * before it builds the addon from source.
 *
 * What it adds: `binding.bnlabSetAsync(on)`. With it on, the calling thread's
 * ops go to an asynchronous TF eager executor: TFE_Execute enqueues the op and
 * returns, and TF runs the queue on its own thread while JavaScript goes on to
 * build the next op. Off again, it waits for the queue and throws the first
 * error any queued op hit.
 *
 * Why: tfjs-node runs every op synchronously, so in a training step the
 * kernels wait while JavaScript does tfjs's bookkeeping between ops, and the
 * bookkeeping waits while the kernels run; TF's worker threads go to sleep in
 * every gap and must be woken for the next op. Asynchronous execution
 * overlaps the two.
 *
 * The catch is that tfjs needs each output's shape at once. In async mode the
 * binding asked for it with TFE_TensorHandleNumDims, which waits for the op to
 * finish, so the patch first runs TF's own shape function on the op
 * (TFE_InferShapes) from the input shapes it has recorded, and the values of
 * small int32 inputs made from JavaScript (sizes, axes, paddings). Where a
 * shape function leaves an output unknown, two kinds of op have their shapes
 * recalled from an earlier run (RecallOutputShapes): batch norm, whose
 * reserve_space_3 follows from its attributes and input shapes, and
 * ReadVariableOp, whose shape is the variable's. Only when neither applies
 * does it wait, as before.
 *
 * It also adds `binding.bnlabSetSideQueue(on)`: while async mode is on, the
 * calling thread's ops go to a second asynchronous executor with a thread
 * of its own (lib/src/ops/native.ts, onSideQueue), so that an op nothing
 * waits for soon (a layer's weight gradient) runs alongside the main queue
 * instead of behind it. TF makes an op wait for its inputs whichever
 * executor produces them; turning async mode off waits for both queues.
 * Outside async mode the call changes nothing and returns false.
 *
 * And it lets an attribute be a list of strings or of types (an array in
 * JavaScript), which the fused oneDNN convolution's `fused_ops` and `TArgs`
 * are (lib/src/ops/native-conv.ts, nativeConv2dRelu).
 *
 * And, with BNLAB_TF_THREAD_SPINNING=off, it makes TF's context with its idle
 * worker threads sleeping at once instead of spinning first
 * (ConfigProto.experimental.disable_thread_spinning), for measuring what
 * that buys; TF's default, spinning, stays the default (see the edit below
 * and the README's Benchmark section).
 *
 * Each edit names the text it expects, so a tfjs-node upgrade that moves that
 * text fails the set-up loudly instead of building an unpatched addon.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PATCH_MARKER = '// bnlab-async-patch';

/** bnlab's kernels' source, copied beside the binding's sources and included by tfjs_backend.cc. */
const KERNELS_SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'native', 'bnlab-kernels.cc');
const KERNELS_FILE = 'bnlab_kernels.cc';

const HEADER_EDITS = [
  {
    find: '  napi_value GetNumOfTensors(napi_env env);\n',
    replace: `  napi_value GetNumOfTensors(napi_env env);

  ${PATCH_MARKER}
  napi_value SetAsync(napi_env env, napi_value enabled_value);
  napi_value SetSideQueue(napi_env env, napi_value enabled_value);
`,
  },
  {
    find: '  napi_value GenerateOutputTensorInfo(napi_env env, TFE_TensorHandle *handle);\n',
    replace: `  napi_value GenerateOutputTensorInfo(
      napi_env env, TFE_TensorHandle *handle,
      const std::vector<int64_t> *known_shape = nullptr);
  bool InferOutputShapes(TFE_Op *op,
                         const std::vector<TFE_TensorHandle *> &inputs,
                         int num_outputs,
                         std::vector<std::vector<int64_t>> *shapes);
  void ForgetHandle(TFE_TensorHandle *handle);
  bool RecallOutputShapes(TFE_Op *op,
                          const std::vector<TFE_TensorHandle *> &inputs,
                          int num_outputs,
                          std::vector<std::vector<int64_t>> *shapes,
                          std::string *learn_key);

  // Output shapes learnt from a first run, for the ops whose shape function
  // leaves an output unknown although the kernel's output shapes follow from
  // the attributes and input shapes alone (see RecallOutputShapes).
  std::unordered_map<std::string, std::vector<std::vector<int64_t>>>
      learnt_shapes_;
  // The value shapes of resource variables, learnt from a first
  // ReadVariableOp and forgotten when any op but a read or a ResourceApply*
  // update (which keep the shape) takes the handle.
  std::unordered_map<TFE_TensorHandle *, std::vector<int64_t>>
      variable_shapes_;

  // Shapes of the handles this binding handed out (async outputs are not
  // ready, so their shapes cannot be asked of TF without waiting).
  std::unordered_map<TFE_TensorHandle *, std::vector<int64_t>> known_shapes_;
  // Small int32 tensors made from JS values: ready, and their values may
  // decide an output shape (sizes, axes, paddings).
  std::unordered_map<TFE_TensorHandle *, bool> small_ints_;
  TFE_Executor *async_executor_ = nullptr;
  // A second asynchronous queue with its own thread, for ops that need not
  // wait for the main queue's (see SetSideQueue).
  TFE_Executor *side_executor_ = nullptr;
  bool side_ = false;
  TFE_Executor *sync_executor_ = nullptr;
  bool async_ = false;
`,
  },
  {
    find: '#include <unordered_map>\n',
    replace: '#include <unordered_map>\n#include <algorithm>\n#include <vector>\n#include "tensorflow/c/eager/c_api_experimental.h"\n',
  },
];

const BACKEND_EDITS = [
  // List attributes (a fused op's fused_ops and TArgs): a JavaScript array
  // of strings or of dtypes.
  {
    find: 'void AssignOpAttr(napi_env env, TFE_Op *tfe_op, napi_value attr_value) {\n',
    replace: `${PATCH_MARKER}: the elements of a JavaScript array, for list attributes.
static napi_status ArrayElements(napi_env env, napi_value array,
                                 std::vector<napi_value> *elements) {
  uint32_t length;
  napi_status nstatus = napi_get_array_length(env, array, &length);
  if (nstatus != napi_ok) return nstatus;
  elements->resize(length);
  for (uint32_t i = 0; i < length && nstatus == napi_ok; ++i) {
    nstatus = napi_get_element(env, array, i, &(*elements)[i]);
  }
  return nstatus;
}

void AssignOpAttr(napi_env env, TFE_Op *tfe_op, napi_value attr_value) {
`,
  },
  {
    find: `    case TF_ATTR_TYPE: {
      TF_DataType tf_data_type;
`,
    replace: `    case TF_ATTR_TYPE: {
      ${PATCH_MARKER}: an array of dtypes is a type list.
      if (IsArray(env, nstatus, &js_value)) {
        std::vector<napi_value> elements;
        nstatus = ArrayElements(env, js_value, &elements);
        ENSURE_NAPI_OK(env, nstatus);
        std::vector<TF_DataType> types(elements.size());
        for (size_t i = 0; i < elements.size(); ++i) {
          nstatus = napi_get_value_int32(
              env, elements[i], reinterpret_cast<int32_t *>(&types[i]));
          ENSURE_NAPI_OK(env, nstatus);
        }
        TFE_OpSetAttrTypeList(tfe_op, attr_name, types.data(), types.size());
        break;
      }
      TF_DataType tf_data_type;
`,
  },
  {
    find: `    case TF_ATTR_STRING: {
      // NOTE: String attribute values do not have to be utf8 encoded strings
      // (could be arbitrary byte sequences).
      std::string str_value;
`,
    replace: `    case TF_ATTR_STRING: {
      ${PATCH_MARKER}: an array of strings is a string list.
      if (IsArray(env, nstatus, &js_value)) {
        std::vector<napi_value> elements;
        nstatus = ArrayElements(env, js_value, &elements);
        ENSURE_NAPI_OK(env, nstatus);
        std::vector<std::string> strs(elements.size());
        std::vector<const void *> ptrs(elements.size());
        std::vector<size_t> lens(elements.size());
        for (size_t i = 0; i < elements.size(); ++i) {
          nstatus = GetStringParam(env, elements[i], strs[i]);
          ENSURE_NAPI_OK(env, nstatus);
          ptrs[i] = strs[i].data();
          lens[i] = strs[i].size();
        }
        TFE_OpSetAttrStringList(tfe_op, attr_name, ptrs.data(), lens.data(),
                                strs.size());
        break;
      }
      // NOTE: String attribute values do not have to be utf8 encoded strings
      // (could be arbitrary byte sequences).
      std::string str_value;
`,
  },
  {
    find: '#include "tensorflow/c/eager/c_api.h"\n',
    replace: `#include "tensorflow/c/eager/c_api.h"
#include "tensorflow/c/c_api_experimental.h"
#include "tensorflow/c/eager/c_api_experimental.h"
// bnlab's own kernels (lib/native/bnlab-kernels.cc, copied here by the
// patch), built into the addon and registered with TF as it loads.
#include "${KERNELS_FILE}"
`,
  },
  // Tensors made from JS values: a copy TF owns, instead of a view of V8's
  // memory released through N-API. Queued ops drop their last reference to
  // an input on TF's executor thread, and N-API must not be called there
  // (V8 aborts: "Fatal error in , line 0").
  {
    find: `  NapiAutoRef *auto_ref = new NapiAutoRef();
  nstatus = auto_ref->Init(env, array_value);
  if (nstatus != napi_ok) {
    delete auto_ref;
  }
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
`,
    replace: `  ${PATCH_MARKER}: no NapiAutoRef, the values are copied below.
`,
  },
  {
    find: `  TF_AutoTensor tensor(TF_NewTensor(dtype, shape, shape_length, array_data,
                                    byte_size, DeallocTensor, auto_ref));

  TF_AutoStatus tf_status;
  TFE_TensorHandle *tfe_tensor_handle =
      TFE_NewTensorHandle(tensor.tensor, tf_status.status);
  if (TF_GetCode(tf_status.status) != TF_OK) {
    delete auto_ref;
    TFE_DeleteTensorHandle(tfe_tensor_handle);
  }`,
    replace: `  TF_AutoTensor tensor(
      TF_AllocateTensor(dtype, shape, shape_length, byte_size));
  if (byte_size > 0) memcpy(TF_TensorData(tensor.tensor), array_data, byte_size);

  TF_AutoStatus tf_status;
  TFE_TensorHandle *tfe_tensor_handle =
      TFE_NewTensorHandle(tensor.tensor, tf_status.status);
  if (TF_GetCode(tf_status.status) != TF_OK) {
    TFE_DeleteTensorHandle(tfe_tensor_handle);
  }`,
  },
  // CreateTensor: remember the shape, and whether the values are small ints.
  {
    find: `  napi_value output_tensor_id;
  nstatus = napi_create_int32(env, InsertHandle(tfe_handle), &output_tensor_id);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  return output_tensor_id;
}`,
    replace: `  ${PATCH_MARKER}
  known_shapes_[tfe_handle] = shape_vector;
  {
    int64_t n = 1;
    for (int64_t d : shape_vector) n *= d;
    if (dtype_int32 == TF_INT32 && n <= 64) small_ints_[tfe_handle] = true;
  }

  napi_value output_tensor_id;
  nstatus = napi_create_int32(env, InsertHandle(tfe_handle), &output_tensor_id);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  return output_tensor_id;
}`,
  },
  {
    find: `  TFE_DeleteTensorHandle(tensor_entry->second);
  tfe_handle_map_.erase(tensor_entry);
}`,
    replace: `  ForgetHandle(tensor_entry->second);
  TFE_DeleteTensorHandle(tensor_entry->second);
  tfe_handle_map_.erase(tensor_entry);
}`,
  },
  // ExecuteOp: keep the input handles, infer the output shapes in async mode.
  {
    find: `    TFE_OpAddInput(tfe_op.op, input_tensor_entry->second, tf_status.status);
    ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
  }`,
    replace: `    TFE_OpAddInput(tfe_op.op, input_tensor_entry->second, tf_status.status);
    ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
    input_handles.push_back(input_tensor_entry->second);
    if (!variable_shapes_.empty() && op_name != "ReadVariableOp" &&
        op_name.rfind("ResourceApply", 0) != 0) {
      variable_shapes_.erase(input_tensor_entry->second);
    }
  }`,
  },
  {
    find: `  TFE_AutoOp tfe_op(TFE_NewOp(tfe_context_, op_name.c_str(), tf_status.status));
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
`,
    replace: `  TFE_AutoOp tfe_op(TFE_NewOp(tfe_context_, op_name.c_str(), tf_status.status));
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
  std::vector<TFE_TensorHandle *> input_handles;
`,
  },
  {
    find: `  int size = result_handles.size();
  TFE_Execute(tfe_op.op, result_handles.data(), &size, tf_status.status);
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);

  napi_value output_tensor_infos;
  nstatus = napi_create_array_with_length(env, size, &output_tensor_infos);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);

  for (int32_t i = 0; i < num_outputs; i++) {
    TFE_TensorHandle *handle = result_handles[i];
    napi_value tensor_info_value = GenerateOutputTensorInfo(env, handle);`,
    replace: `  std::vector<std::vector<int64_t>> inferred;
  std::string learn_key;
  const bool have_shapes =
      async_ &&
      (InferOutputShapes(tfe_op.op, input_handles, num_outputs, &inferred) ||
       RecallOutputShapes(tfe_op.op, input_handles, num_outputs, &inferred,
                          &learn_key));

  int size = result_handles.size();
  TFE_Execute(tfe_op.op, result_handles.data(), &size, tf_status.status);
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);

  napi_value output_tensor_infos;
  nstatus = napi_create_array_with_length(env, size, &output_tensor_infos);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);

  for (int32_t i = 0; i < num_outputs; i++) {
    TFE_TensorHandle *handle = result_handles[i];
    napi_value tensor_info_value = GenerateOutputTensorInfo(
        env, handle, have_shapes ? &inferred[i] : nullptr);`,
  },
  {
    find: `    nstatus = napi_set_element(env, output_tensor_infos, i, tensor_info_value);
    ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  }

  return output_tensor_infos;
}`,
    replace: `    nstatus = napi_set_element(env, output_tensor_infos, i, tensor_info_value);
    ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  }
  if (learn_key == kVariableShapeKey && num_outputs == 1) {
    variable_shapes_[input_handles[0]] = known_shapes_[result_handles[0]];
  } else if (!learn_key.empty() && learnt_shapes_.size() < 4096) {
    std::vector<std::vector<int64_t>> shapes;
    for (int32_t i = 0; i < num_outputs; i++) {
      shapes.push_back(known_shapes_[result_handles[i]]);
    }
    learnt_shapes_[learn_key] = shapes;
  }

  return output_tensor_infos;
}`,
  },
  {
    find: `napi_value TFJSBackend::GenerateOutputTensorInfo(napi_env env,
                                                 TFE_TensorHandle *handle) {`,
    replace: `napi_value TFJSBackend::GenerateOutputTensorInfo(
    napi_env env, TFE_TensorHandle *handle,
    const std::vector<int64_t> *known_shape) {`,
  },
  {
    find: `  // Output tensor shape:
  napi_value shape_value;
  GetTFE_TensorHandleShape(env, handle, &shape_value);
`,
    replace: `  // Output tensor shape: inferred (async), or asked of TF (which waits for
  // the op in async mode).
  std::vector<int64_t> dims;
  if (known_shape != nullptr) {
    dims = *known_shape;
  } else {
    TF_AutoStatus tf_status;
    int num_dims = TFE_TensorHandleNumDims(handle, tf_status.status);
    ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
    for (int i = 0; i < num_dims; i++) {
      dims.push_back(TFE_TensorHandleDim(handle, i, tf_status.status));
      ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
    }
  }
  known_shapes_[handle] = dims;
  napi_value shape_value;
  nstatus = napi_create_array_with_length(env, dims.size(), &shape_value);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  for (size_t i = 0; i < dims.size(); i++) {
    napi_value cur_dim;
    nstatus = napi_create_int64(env, dims[i], &cur_dim);
    ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
    nstatus = napi_set_element(env, shape_value, i, cur_dim);
    ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  }
`,
  },
  // The new methods, after GetNumOfTensors.
  {
    find: 'napi_value TFJSBackend::GetNumOfTensors(napi_env env) {',
    replace: `void TFJSBackend::ForgetHandle(TFE_TensorHandle *handle) {
  known_shapes_.erase(handle);
  variable_shapes_.erase(handle);
  small_ints_.erase(handle);
}

static const char kVariableShapeKey[] = "ReadVariableOp";

// FusedBatchNorm's shape functions leave reserve_space_3 unknown: its size
// is the kernel's business (an empty tensor from TF's CPU kernel, oneDNN's
// workspace from the _MklNative ones), but fixed by the attributes and the
// input shapes. Without a shape the binding would wait for the op, and the
// whole queue before it, at every batch norm of the forward pass. So the
// first run of each (op, attributes, input shapes) waits and records its
// output shapes, and later runs take them from the record. Only the ops
// named here: an op whose output shapes depend on input values must not be
// recorded.
bool TFJSBackend::RecallOutputShapes(
    TFE_Op *op, const std::vector<TFE_TensorHandle *> &inputs, int num_outputs,
    std::vector<std::vector<int64_t>> *shapes, std::string *learn_key) {
  TF_AutoStatus status;
  const std::string name = TFE_OpGetName(op, status.status);
  if (TF_GetCode(status.status) != TF_OK) return false;
  if (name == "ReadVariableOp" && inputs.size() == 1) {
    // The optimiser reads every variable after its update: without this,
    // each read would be a round trip to the executor.
    auto known = variable_shapes_.find(inputs[0]);
    if (known == variable_shapes_.end()) {
      *learn_key = kVariableShapeKey;
      return false;
    }
    shapes->assign(1, known->second);
    return true;
  }
  if (name != "FusedBatchNormV3" && name != "_MklNativeFusedBatchNormEx" &&
      name != "_FusedBatchNormEx") {
    return false;
  }
  // The attributes as a NameAttrList proto, whose map entries come in no
  // fixed order: the key sorts its top-level fields (the op's name and one
  // entry per attribute, each length-delimited).
  TF_Buffer *attrs = TF_NewBuffer();
  TFE_OpAttrsSerialize(TFE_OpGetAttrs(op), attrs, status.status);
  std::vector<std::string> fields;
  bool parsed = TF_GetCode(status.status) == TF_OK;
  const auto *bytes = static_cast<const unsigned char *>(attrs->data);
  const size_t length = parsed ? attrs->length : 0;
  auto varint = [&](size_t *at, uint64_t *value) {
    *value = 0;
    for (int shift = 0; *at < length && shift < 64; shift += 7) {
      const unsigned char b = bytes[(*at)++];
      *value |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  for (size_t at = 0; parsed && at < length;) {
    const size_t start = at;
    uint64_t tag, size;
    parsed = varint(&at, &tag) && (tag & 7) == 2 && varint(&at, &size) &&
             size <= length - at;
    if (parsed) {
      at += size;
      fields.emplace_back(reinterpret_cast<const char *>(bytes) + start,
                          at - start);
    }
  }
  TF_DeleteBuffer(attrs);
  if (!parsed) return false;
  std::sort(fields.begin(), fields.end());
  std::string key = name + '#' + std::to_string(num_outputs);
  for (const std::string &field : fields) {
    key += '#' + std::to_string(field.size()) + ':' + field;
  }
  for (TFE_TensorHandle *input : inputs) {
    auto known = known_shapes_.find(input);
    if (known == known_shapes_.end()) return false;
    key += '|';
    for (int64_t d : known->second) key += std::to_string(d) + ',';
  }
  auto learnt = learnt_shapes_.find(key);
  if (learnt != learnt_shapes_.end()) {
    *shapes = learnt->second;
    return true;
  }
  *learn_key = key;
  return false;
}

bool TFJSBackend::InferOutputShapes(
    TFE_Op *op, const std::vector<TFE_TensorHandle *> &inputs, int num_outputs,
    std::vector<std::vector<int64_t>> *shapes) {
  const int n = static_cast<int>(inputs.size());
  TF_ShapeAndTypeList *input_shapes = TF_NewShapeAndTypeList(n);
  std::vector<TF_Tensor *> input_values(n, nullptr);
  for (int i = 0; i < n; i++) {
    auto known = known_shapes_.find(inputs[i]);
    if (known == known_shapes_.end()) {
      TF_ShapeAndTypeListSetUnknownShape(input_shapes, i);
      continue;
    }
    TF_ShapeAndTypeListSetShape(input_shapes, i, known->second.data(),
                                static_cast<int>(known->second.size()));
    if (small_ints_.count(inputs[i]) != 0) {
      TF_AutoStatus status;
      TF_Tensor *t = TFE_TensorHandleResolve(inputs[i], status.status);
      if (TF_GetCode(status.status) == TF_OK) input_values[i] = t;
    }
  }
  TF_ShapeAndTypeList *output_shapes = nullptr;
  TF_AutoStatus status;
  TFE_InferShapes(op, input_shapes, input_values.data(), nullptr, nullptr,
                  &output_shapes, nullptr, status.status);
  bool ok = TF_GetCode(status.status) == TF_OK && output_shapes != nullptr &&
            output_shapes->num_items == num_outputs;
  if (ok) {
    shapes->assign(num_outputs, std::vector<int64_t>());
    for (int i = 0; i < num_outputs && ok; i++) {
      const TF_ShapeAndType &s = output_shapes->items[i];
      if (s.num_dims < 0) ok = false;
      for (int j = 0; ok && j < s.num_dims; j++) {
        if (s.dims[j] < 0) ok = false;
        (*shapes)[i].push_back(s.dims[j]);
      }
    }
  }
  for (TF_Tensor *t : input_values) {
    if (t != nullptr) TF_DeleteTensor(t);
  }
  TF_DeleteShapeAndTypeList(input_shapes);
  if (output_shapes != nullptr) TF_DeleteShapeAndTypeList(output_shapes);
  return ok;
}

napi_value TFJSBackend::SetAsync(napi_env env, napi_value enabled_value) {
  bool enabled;
  napi_status nstatus = napi_get_value_bool(env, enabled_value, &enabled);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  if (enabled && !async_) {
    if (sync_executor_ == nullptr) {
      sync_executor_ = TFE_ContextGetExecutorForThread(tfe_context_);
    }
    if (async_executor_ == nullptr) {
      async_executor_ = TFE_NewExecutor(/*is_async=*/true,
                                        /*enable_streaming_enqueue=*/true,
                                        /*in_flight_nodes_limit=*/0);
    }
    TFE_ContextSetExecutorForThread(tfe_context_, async_executor_);
    async_ = true;
  } else if (!enabled && async_) {
    std::string message;
    // Each queue runs on its own thread, and an op waits for its inputs
    // whichever queue makes them, so waiting for one queue and then the
    // other cannot deadlock.
    for (TFE_Executor *executor : {async_executor_, side_executor_}) {
      if (executor == nullptr) continue;
      TF_AutoStatus status;
      TFE_ExecutorWaitForAllPendingNodes(executor, status.status);
      if (TF_GetCode(status.status) != TF_OK) {
        if (message.empty()) message = TF_Message(status.status);
        TFE_ExecutorClearError(executor);
      }
    }
    TFE_ContextSetExecutorForThread(tfe_context_, sync_executor_);
    async_ = false;
    side_ = false;
    if (!message.empty()) {
      NAPI_THROW_ERROR(env, "an op queued in async mode failed: %s",
                       message.c_str());
      return nullptr;
    }
  }
  napi_value result;
  nstatus = napi_get_boolean(env, async_, &result);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  return result;
}

napi_value TFJSBackend::SetSideQueue(napi_env env, napi_value enabled_value) {
  bool enabled;
  napi_status nstatus = napi_get_value_bool(env, enabled_value, &enabled);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  // Outside async mode every op runs at once, in order: there is no queue
  // to choose, and the call changes nothing.
  if (enabled && async_ && side_executor_ == nullptr) {
    side_executor_ = TFE_NewExecutor(/*is_async=*/true,
                                     /*enable_streaming_enqueue=*/true,
                                     /*in_flight_nodes_limit=*/0);
  }
  if (async_) {
    TFE_ContextSetExecutorForThread(tfe_context_,
                                    enabled ? side_executor_ : async_executor_);
    side_ = enabled;
  }
  napi_value result;
  nstatus = napi_get_boolean(env, side_, &result);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  return result;
}

napi_value TFJSBackend::GetNumOfTensors(napi_env env) {`,
  },
  // TF's worker threads, idle, spin before they sleep (TF's default), on the
  // chance that work comes soon. BNLAB_TF_THREAD_SPINNING=off makes the
  // context with ConfigProto.experimental.disable_thread_spinning, so that
  // they sleep at once: in a step that keeps every core busy a spinning
  // worker takes a core from the threads that would give it work. It is a
  // switch for measuring that (npm run bench:env), not the default: 14
  // alternating rounds did not show it faster (README, Benchmark). Only when
  // an idle thread sleeps changes, not how work is split: no number changes.
  {
    find: `  TFE_ContextOptions *tfe_options = TFE_NewContextOptions();
  tfe_context_ = TFE_NewContext(tfe_options, tf_status.status);
`,
    replace: `  TFE_ContextOptions *tfe_options = TFE_NewContextOptions();
  ${PATCH_MARKER}: BNLAB_TF_THREAD_SPINNING=off, TF's idle workers sleep at once.
  tfe_context_ = nullptr;  // the destructor's test, if the set-up fails here
  const char *spinning = std::getenv("BNLAB_TF_THREAD_SPINNING");
  const std::string spinning_choice = spinning == nullptr ? "" : spinning;
  if (spinning_choice == "off") {
    // A serialized ConfigProto: experimental (field 16) {
    // disable_thread_spinning (field 9): true }.
    static const unsigned char kNoThreadSpinning[] = {0x82, 0x01, 0x02, 0x48,
                                                      0x01};
    TFE_ContextOptionsSetConfig(tfe_options, kNoThreadSpinning,
                                sizeof kNoThreadSpinning, tf_status.status);
    if (TF_GetCode(tf_status.status) != TF_OK) {
      TFE_DeleteContextOptions(tfe_options);
      NAPI_THROW_ERROR(env, "Exception configuring TFE_Context: %s",
                       TF_Message(tf_status.status));
      return;
    }
  } else if (spinning_choice != "" && spinning_choice != "on") {
    TFE_DeleteContextOptions(tfe_options);
    NAPI_THROW_ERROR(env,
                     "BNLAB_TF_THREAD_SPINNING=%s: expected on (TF's idle "
                     "threads spin before they sleep, the default) or off "
                     "(they sleep at once)",
                     spinning);
    return;
  }
  tfe_context_ = TFE_NewContext(tfe_options, tf_status.status);
`,
  },
];

const BINDING_EDITS = [
  {
    find: 'static napi_value IsUsingGPUDevice(napi_env env, napi_callback_info info) {',
    replace: `${PATCH_MARKER}
// Calls a TFJSBackend method that takes one boolean, for the bnlab* functions.
static napi_value CallWithOneBool(
    napi_env env, napi_callback_info info, const char *name,
    napi_value (TFJSBackend::*method)(napi_env, napi_value)) {
  size_t argc = 1;
  napi_value args[1];
  napi_value js_this;
  napi_status nstatus = napi_get_cb_info(env, info, &argc, args, &js_this, nullptr);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  if (argc < 1) {
    NAPI_THROW_ERROR(env, "%s() takes one boolean", name);
    return nullptr;
  }
  TFJSBackend *const backend = GetTFJSBackend(env);
  if (!backend) return nullptr;
  return (backend->*method)(env, args[0]);
}

static napi_value BnlabSetAsync(napi_env env, napi_callback_info info) {
  return CallWithOneBool(env, info, "bnlabSetAsync", &TFJSBackend::SetAsync);
}

static napi_value BnlabSetSideQueue(napi_env env, napi_callback_info info) {
  return CallWithOneBool(env, info, "bnlabSetSideQueue",
                         &TFJSBackend::SetSideQueue);
}

static napi_value IsUsingGPUDevice(napi_env env, napi_callback_info info) {`,
  },
  {
    find: `      {"getNumOfTensors", nullptr, GetNumOfTensors, nullptr, nullptr,
       nullptr, napi_default, nullptr},
`,
    replace: `      {"getNumOfTensors", nullptr, GetNumOfTensors, nullptr, nullptr,
       nullptr, napi_default, nullptr},
      {"bnlabSetAsync", nullptr, BnlabSetAsync, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"bnlabSetSideQueue", nullptr, BnlabSetSideQueue, nullptr, nullptr,
       nullptr, napi_default, nullptr},
`,
  },
];

const FILES = [
  ['binding/tfjs_backend.h', HEADER_EDITS],
  ['binding/tfjs_backend.cc', BACKEND_EDITS],
  ['binding/tfjs_binding.cc', BINDING_EDITS],
];

/** A hash of the patch itself, for the set-up's stamp: a changed patch rebuilds the addon. */
export function patchHash() {
  return crypto.createHash('sha256').update(JSON.stringify(FILES)).update(fs.readFileSync(KERNELS_SOURCE)).digest('hex').slice(0, 16);
}

/**
 * Applies the edits to a pristine tfjs-node package (`npm ci` gives one).
 * Returns 'patched', or 'already' when every file carries the marker.
 */
export function patchTfjsNode(tfjsNodeDir) {
  const texts = FILES.map(([rel]) => fs.readFileSync(path.join(tfjsNodeDir, rel), 'utf8'));
  const marked = texts.map((t) => t.includes(PATCH_MARKER));
  if (marked.every(Boolean)) return 'already';
  if (marked.some(Boolean)) throw new Error(`${tfjsNodeDir}: the binding is partly patched; run \`npm ci\` to get a clean tfjs-node, then the set-up again`);
  // Every edit is checked before any file is written: all or nothing.
  const patched = FILES.map(([rel, edits], i) => {
    let text = texts[i];
    for (const { find, replace } of edits) {
      const at = text.indexOf(find);
      if (at < 0 || text.indexOf(find, at + 1) >= 0) {
        throw new Error(`${path.join(tfjsNodeDir, rel)}: expected exactly one ${JSON.stringify(find.split('\n')[0])}; this tfjs-node differs from the one bnlab's patch was written for`);
      }
      text = text.slice(0, at) + replace + text.slice(at + find.length);
    }
    return text;
  });
  FILES.forEach(([rel], i) => fs.writeFileSync(path.join(tfjsNodeDir, rel), patched[i]));
  fs.copyFileSync(KERNELS_SOURCE, path.join(tfjsNodeDir, 'binding', KERNELS_FILE));
  return 'patched';
}
