/*
 * Copyright (c) Meta Platforms, Inc. and affiliates.
 * All rights reserved.
 *
 * This source code is licensed under the BSD-style license found in the
 * LICENSE file in the root directory of this source tree.
 */

#include <executorch/extension/llm/custom_ops/op_sdpa.h>
#include <executorch/extension/llm/custom_ops/op_sdpa_impl.h>

#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <executorch/kernels/optimized/blas/CPUBlas.h>
#include <executorch/runtime/core/event_tracer_hooks.h>
#include <executorch/runtime/core/exec_aten/util/dim_order_util.h>
// @lint-ignore CLANGTIDY facebook-unused-include-check
#include <c10/util/irange.h>
#include <executorch/runtime/core/exec_aten/util/scalar_type_util.h>
#include <executorch/runtime/kernel/operator_registry.h>
#include <executorch/runtime/platform/compiler.h>
#include <algorithm>
#include <cmath>
#include <memory>
#include <new>
#include <vector>
#if defined(__APPLE__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

// parallel_for + get_thread_num have serial fallbacks without a threadpool.
#include <executorch/runtime/kernel/thread_parallel_interface.h>
#ifdef ET_USE_THREADPOOL
#include <executorch/extension/threadpool/threadpool.h>
#endif
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

namespace torch {
namespace executor {

namespace native {

namespace {

bool validate_flash_attention_args(
    const Tensor& query,
    const Tensor& key,
    const Tensor& value,
    const optional<Tensor>& attn_mask) {
  ET_CHECK_OR_RETURN_FALSE(query.dim() == 4, "query must be a 4D tensor");
  ET_CHECK_OR_RETURN_FALSE(key.dim() == 4, "key must be a 4D tensor");
  ET_CHECK_OR_RETURN_FALSE(value.dim() == 4, "value must be a 4D tensor");

  // Sizes
  ET_CHECK_OR_RETURN_FALSE(
      (query.size(3) == value.size(3)) && (key.size(3) == value.size(3)),
      "scaled_dot_product_attention_flash_attention: Q/K/V should have the same head size");

  ET_CHECK_OR_RETURN_FALSE(
      (query.scalar_type() == ScalarType::Float) ||
          (query.scalar_type() == ScalarType::Half) ||
          (query.scalar_type() == ScalarType::BFloat16) ||
          (query.scalar_type() == ScalarType::Char),
      "Query must be Float, Half, BFloat16, or Char type");

  ET_CHECK_OR_RETURN_FALSE(
      (query.scalar_type() == key.scalar_type()) &&
          (query.scalar_type() == value.scalar_type()),
      "Key and Value must have the same data type as Query");

  ET_CHECK_OR_RETURN_FALSE(
      !attn_mask.has_value() || attn_mask.value().dim() == 2,
      "Attention mask must be a 2D tensor");

  ET_CHECK_OR_RETURN_FALSE(
      !attn_mask.has_value() ||
          attn_mask.value().scalar_type() == ScalarType::Float,
      "Attention mask must be a Float tensor");

  ET_CHECK_OR_RETURN_FALSE(
      is_contiguous_dim_order(query.dim_order().data(), query.dim()),
      "key cache must be in contiguous dim order");

  ET_CHECK_OR_RETURN_FALSE(
      is_contiguous_dim_order(key.dim_order().data(), key.dim()),
      "value cache must be in contiguous dim order");

  ET_CHECK_OR_RETURN_FALSE(
      is_contiguous_dim_order(value.dim_order().data(), value.dim()),
      "value cache must be in contiguous dim order");

  if (attn_mask.has_value()) {
    ET_CHECK_OR_RETURN_FALSE(
        is_contiguous_dim_order(
            attn_mask.value().dim_order().data(), attn_mask.value().dim()),
        "value cache must be in contiguous dim order");
  }

  return true;
}

bool validate_cache_quant_params_args(
    const Tensor& t,
    const Tensor& t_zero_points,
    const Tensor& t_scales) {
  ET_CHECK_OR_RETURN_FALSE(
      t.dim() == t_scales.dim(),
      "Quantized tensor and scales must have the same number of dimensions");
  ET_CHECK_OR_RETURN_FALSE(
      t.dim() == t_zero_points.dim(),
      "Quantized tensor and scales must have the same number of dimensions");

  ET_CHECK_OR_RETURN_FALSE(
      (t.scalar_type() == ScalarType::Char), "Tensor must be of int8_t type");

  ET_CHECK_OR_RETURN_FALSE(
      (t_scales.scalar_type() == ScalarType::Float),
      "Scales tensor must be of float type");

  ET_CHECK_OR_RETURN_FALSE(
      (t_zero_points.scalar_type() == ScalarType::Char),
      "Zero points tensor must be of int8_t type");

  // Sizes
  for (int64_t i = 0; i < t.dim() - 1; i++) {
    ET_CHECK_OR_RETURN_FALSE(
        (t.size(i) == t_scales.size(i)),
        "Quantized tensor and scales have different shape"
        "at dim: %" PRId64 ", t: %zd, t_scales: %zd",
        i,
        t.size(i),
        t_scales.size(i));
    ;
    ET_CHECK_OR_RETURN_FALSE(
        (t.size(i) == t_zero_points.size(i)),
        "Quantized tensor and zero points have different shape"
        "at dim: %" PRId64 ", t: %zd, t_scales: %zd",
        i,
        t.size(i),
        t_zero_points.size(i));
    ;
  }

  return true;
}

bool validate_cache_params(
    const Tensor& k_cache,
    const Tensor& v_cache,
    int64_t start_pos,
    int64_t seq_length) {
  ET_CHECK_OR_RETURN_FALSE(k_cache.dim() == 4, "kcache must be a 4D tensor");

  ET_CHECK_OR_RETURN_FALSE(v_cache.dim() == 4, "v_cache must be a 4D tensor");

  ET_CHECK_OR_RETURN_FALSE(
      start_pos < k_cache.size(1),
      "start_pos must be less than key cache at dim 1");

  ET_CHECK_OR_RETURN_FALSE(
      start_pos < v_cache.size(1),
      "start_pos must be less than value cache at dim 1");

  ET_CHECK_OR_RETURN_FALSE(
      (start_pos + seq_length) <= k_cache.size(1),
      "start_post + seq_length must be less than max seq length supported by key cache."
      "start pos: %" PRId64 ", seq_length: %" PRId64
      "."
      "key cache size: %zd",
      start_pos,
      seq_length,
      k_cache.size(1));

  ET_CHECK_OR_RETURN_FALSE(
      (start_pos + seq_length) <= v_cache.size(1),
      "start_post + seq_length must be less than max seq length supported by key cache."
      "start pos: %" PRId64 ", seq_length: %" PRId64
      "."
      "value cache size: %zd",
      start_pos,
      seq_length,
      v_cache.size(1));

  // Make sure they are in contiguous dim order
  ET_CHECK_OR_RETURN_FALSE(
      is_contiguous_dim_order(k_cache.dim_order().data(), k_cache.dim()),
      "key cache must be in contiguous dim order");

  ET_CHECK_OR_RETURN_FALSE(
      is_contiguous_dim_order(v_cache.dim_order().data(), v_cache.dim()),
      "value cache must be in contiguous dim order");

  return true;
}

bool validate_gated_delta_rule_args(
    const Tensor& query,
    const Tensor& key,
    const Tensor& value,
    const Tensor& decay,
    const Tensor& beta,
    const Tensor& initial_state) {
  ET_CHECK_OR_RETURN_FALSE(query.dim() == 4, "query must be a 4D tensor");
  ET_CHECK_OR_RETURN_FALSE(key.dim() == 4, "key must be a 4D tensor");
  ET_CHECK_OR_RETURN_FALSE(value.dim() == 4, "value must be a 4D tensor");
  ET_CHECK_OR_RETURN_FALSE(
      decay.dim() == 4 || decay.dim() == 3,
      "decay must be a 4D tensor (channelwise) or a 3D tensor (scalar)");
  ET_CHECK_OR_RETURN_FALSE(beta.dim() == 3, "beta must be a 3D tensor");
  ET_CHECK_OR_RETURN_FALSE(
      initial_state.dim() == 4, "initial_state must be a 4D tensor");

  ET_CHECK_OR_RETURN_FALSE(
      query.scalar_type() == ScalarType::Float, "query must be float32");
  ET_CHECK_OR_RETURN_FALSE(
      key.scalar_type() == ScalarType::Float, "key must be float32");
  ET_CHECK_OR_RETURN_FALSE(
      value.scalar_type() == ScalarType::Float, "value must be float32");
  ET_CHECK_OR_RETURN_FALSE(
      decay.scalar_type() == ScalarType::Float, "decay must be float32");
  ET_CHECK_OR_RETURN_FALSE(
      beta.scalar_type() == ScalarType::Float, "beta must be float32");
  ET_CHECK_OR_RETURN_FALSE(
      initial_state.scalar_type() == ScalarType::Float,
      "initial_state must be float32");

  ET_CHECK_OR_RETURN_FALSE(
      query.size(0) == key.size(0) && query.size(2) == key.size(2) &&
          query.size(3) == key.size(3),
      "query and key must match in batch/sequence/head-dim");
  ET_CHECK_OR_RETURN_FALSE(
      key.size(0) == decay.size(0) && key.size(1) == decay.size(1) &&
          key.size(2) == decay.size(2) &&
          (decay.dim() == 3 || key.size(3) == decay.size(3)),
      "decay must be [B, Hkv, T, K] (channelwise) or [B, Hkv, T] (scalar)");
  ET_CHECK_OR_RETURN_FALSE(
      key.size(0) == value.size(0) && key.size(1) == value.size(1) &&
          key.size(2) == value.size(2),
      "key and value must match in batch/head/sequence dims");
  ET_CHECK_OR_RETURN_FALSE(
      beta.size(0) == key.size(0) && beta.size(1) == key.size(1) &&
          beta.size(2) == key.size(2),
      "beta must match key batch/head/sequence dims");
  ET_CHECK_OR_RETURN_FALSE(
      key.size(1) > 0 && query.size(1) % key.size(1) == 0,
      "query heads must be divisible by key/value heads");
  ET_CHECK_OR_RETURN_FALSE(
      initial_state.size(0) == key.size(0) &&
          initial_state.size(1) == key.size(1) &&
          initial_state.size(2) == query.size(3) &&
          initial_state.size(3) == value.size(3),
      "initial_state shape must match [B, Hkv, K, V]");

  for (const Tensor* tensor :
       {&query, &key, &value, &decay, &beta, &initial_state}) {
    ET_CHECK_OR_RETURN_FALSE(
        is_contiguous_dim_order((*tensor).dim_order().data(), (*tensor).dim()),
        "gated delta rule expects contiguous inputs");
  }

  return true;
}

bool tensor_memory_ranges_overlap(const Tensor& a, const Tensor& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) {
    return false;
  }
  const auto a_begin = reinterpret_cast<uintptr_t>(a.const_data_ptr());
  const auto b_begin = reinterpret_cast<uintptr_t>(b.const_data_ptr());
  const auto a_end = a_begin + a.nbytes();
  const auto b_end = b_begin + b.nbytes();
  return a_begin < b_end && b_begin < a_end;
}

// TODO: seq_length is not yet used for copy
void update_cache(
    const Tensor& projected_value,
    const Tensor& cache,
    int64_t start_pos,
    int64_t seq_length) { // NOLINT: unused parameter 'seq_length'
  // 1) Cache shape should be [bs, max_seq_len, num heads, head dim]
  // 2) projected_value shape should be [bs, seq_len, num heads, head dim]
  // 3) We're updating the cache with projected_value, at position start_pos

  ET_CHECK_MSG(
      projected_value.size(0) == cache.size(0),
      "projected_value batch size should be equal to the cache batch size.");
  ET_CHECK_MSG(
      projected_value.size(2) == cache.size(2),
      "projected_value number of heads should be equal to the cache number of heads.");
  ET_CHECK_MSG(
      projected_value.size(3) == cache.size(3),
      "projected_value embedding dimension should be equal to the cache embedding dimension.");
  ET_CHECK_MSG(
      projected_value.element_size() == cache.element_size(),
      "projected_value data type size should be equal to the cache data type size.");

  ET_CHECK_MSG(
      is_contiguous_dim_order(
          projected_value.dim_order().data(), projected_value.dim()),
      "projected value must be in contiguous dim order");
  const void* projected_value_data = projected_value.const_data_ptr();
  void* cache_data = cache.mutable_data_ptr();

  ET_CHECK_MSG(projected_value_data != nullptr, "projected_value data is null");
  ET_CHECK_MSG(cache_data, "cache data is null");

  auto cache_strides = cache.strides();
  ::executorch::aten::StridesType cache_batch_dim_stride = cache_strides[0];
  ::executorch::aten::StridesType cache_seq_dim_stride = cache_strides[1];

  auto value_strides = projected_value.strides();
  ::executorch::aten::StridesType value_batch_dim_stride = value_strides[0];

  ::executorch::aten::SizesType num_bytes_to_copy =
      (projected_value.numel() / projected_value.size(0)) *
      projected_value.element_size();

  for (int64_t batch_line = 0; batch_line < projected_value.size(0);
       ++batch_line) {
    ::executorch::aten::SizesType cache_pos_offset =
        (batch_line * cache_batch_dim_stride +
         start_pos * cache_seq_dim_stride) *
        cache.element_size();
    ::executorch::aten::SizesType value_pos_offset =
        (batch_line * value_batch_dim_stride) * cache.element_size();

    std::memcpy(
        (uint8_t*)cache_data + cache_pos_offset,
        (uint8_t*)projected_value_data + value_pos_offset,
        num_bytes_to_copy);
  }
}

} // anonymous namespace

Tensor& flash_attention_kernel_out(
    RuntimeContext& ctx,
    const Tensor& query,
    const Tensor& key,
    const Tensor& value,
    const optional<Tensor>& attn_mask,
    const double dropout_p,
    const bool is_causal,
    // @lint-ignore CLANGTIDY facebook-hte-ParameterMightThrowOnCopy
    const optional<double> scale,
    Tensor& output) {
  (void)ctx;
  ET_KERNEL_CHECK(
      ctx,
      validate_flash_attention_args(query, key, value, attn_mask),
      InvalidArgument,
      output);

  ET_KERNEL_CHECK(
      ctx,
      resize_tensor(output, query.sizes()) == Error::Ok,
      InvalidArgument,
      output);

  auto seq_len = query.size(2);

  ET_SWITCH_FLOATHBF16_TYPES(
      query.scalar_type(), ctx, "flash_attention", CTYPE, [&] {
        // TODO we need to re-evaluate this for ARM CPUs
        // And there can be many so instead of templatizing
        // we might consider another appraoch
        if (seq_len >= 768) {
          sdpa::impl::cpu_flash_attention<CTYPE, 256, 512>(
              ctx,
              output,
              query,
              key,
              value,
              dropout_p,
              is_causal,
              attn_mask,
              scale,
              nullopt,
              nullopt,
              nullopt,
              nullopt,
              nullopt,
              nullopt);
        } else if (seq_len >= 192) {
          sdpa::impl::cpu_flash_attention<CTYPE, 64, 512>(
              ctx,
              output,
              query,
              key,
              value,
              dropout_p,
              is_causal,
              attn_mask,
              scale,
              nullopt,
              nullopt,
              nullopt,
              nullopt,
              nullopt,
              nullopt);
        } else {
          sdpa::impl::cpu_flash_attention<CTYPE, 32, 512>(
              ctx,
              output,
              query,
              key,
              value,
              dropout_p,
              is_causal,
              attn_mask,
              scale,
              nullopt,
              nullopt,
              nullopt,
              nullopt,
              nullopt,
              nullopt);
        }
      });
  return output;
}

Tensor& custom_sdpa_out_impl(
    RuntimeContext& ctx,
    const Tensor& q,
    const Tensor& k,
    const Tensor& v,
    const int64_t start_pos,
    const optional<Tensor>& attn_mask,
    const double dropout_p,
    const bool is_causal,
    // @lint-ignore CLANGTIDY facebook-hte-ParameterMightThrowOnCopy
    const optional<double> scale,
    Tensor& output,
    const optional<Tensor>& q_zero_points = nullopt,
    const optional<Tensor>& q_scales = nullopt,
    const optional<Tensor>& k_zero_points = nullopt,
    const optional<Tensor>& k_scales = nullopt,
    const optional<Tensor>& v_zero_points = nullopt,
    const optional<Tensor>& v_scales = nullopt,
    bool is_seq_at_dim_2 = false) {
  ET_KERNEL_CHECK_MSG(
      ctx,
      !attn_mask.has_value() || !is_causal,
      InvalidArgument,
      output,
      "attn_mask and is_causal cannot be set at the same time");

  ET_KERNEL_CHECK_MSG(
      ctx,
      validate_flash_attention_args(q, k, v, attn_mask),
      InvalidArgument,
      output,
      "Invalid arguments");

  int64_t seq_len = q.size(1);
  SeqDim seq_dim{SeqDim::TWO};
  if (!is_seq_at_dim_2) {
    seq_dim = SeqDim::ONE;
  }

  if (q.scalar_type() == ScalarType::Char) {
    if (seq_dim == SeqDim::TWO) {
      seq_len = q.size(2);
    }
    ET_KERNEL_CHECK_MSG(
        ctx,
        q_scales.has_value() && q_zero_points.has_value() &&
            k_scales.has_value() && k_zero_points.has_value() &&
            q_scales.has_value() && q_zero_points.has_value(),
        InvalidArgument,
        output,
        "If q is quantized, k and v must be quantized as well");
    ET_KERNEL_CHECK_MSG(
        ctx,
        validate_cache_quant_params_args(
            q, q_zero_points.value(), q_scales.value()),
        InvalidArgument,
        output,
        "Invalid arguments for quantized query");
    ET_KERNEL_CHECK_MSG(
        ctx,
        validate_cache_quant_params_args(
            k, k_zero_points.value(), k_scales.value()),
        InvalidArgument,
        output,
        "Invalid arguments for quantized key");
    ET_KERNEL_CHECK_MSG(
        ctx,
        validate_cache_quant_params_args(
            v, v_zero_points.value(), v_scales.value()),
        InvalidArgument,
        output,
        "Invalid arguments for quantized value");
  }

  ET_CHECK_MSG(q.dim() == 4, "query must be a 4D tensor");

  const int64_t num_keys_for_causal_attention =
      attn_mask.has_value() ? -1 : start_pos + seq_len;

  ET_KERNEL_CHECK(
      ctx,
      resize_tensor(output, q.sizes()) == Error::Ok,
      InvalidArgument,
      output);

  // TODO(task): replace the template param selection logic
  // with whatever apprpriately makes more sense for
  ET_SWITCH_FLOATHBF16_TYPES(
      output.scalar_type(), ctx, "flash_attention", CTYPE, [&] {
        // TODO we need to re-evaluate this for ARM CPUs
        // And there can be many so instead of templatizing
        // we might consider another appraoch
        if (seq_len >= 768) {
          sdpa::impl::cpu_flash_attention<CTYPE, 256, 512>(
              ctx,
              output,
              q,
              k,
              v,
              dropout_p,
              is_causal,
              attn_mask,
              scale,
              q_zero_points, // q_zero_points
              q_scales, // q_scales
              k_zero_points, // k_zero_points
              k_scales, // k_scales
              v_zero_points, // v_zero_points
              v_scales, // v_scales
              seq_dim, /* seq_dim */
              start_pos,
              num_keys_for_causal_attention);
        } else if (seq_len >= 192) {
          sdpa::impl::cpu_flash_attention<CTYPE, 64, 512>(
              ctx,
              output,
              q,
              k,
              v,
              dropout_p,
              is_causal,
              attn_mask,
              scale,
              q_zero_points, // q_zero_points
              q_scales, // q_scales
              k_zero_points, // k_zero_points
              k_scales, // k_scales
              v_zero_points, // v_zero_points
              v_scales, // v_scales
              seq_dim, /* seq_dim */
              start_pos,
              num_keys_for_causal_attention);
        } else {
          sdpa::impl::cpu_flash_attention<CTYPE, 32, 512>(
              ctx,
              output,
              q,
              k,
              v,
              dropout_p,
              is_causal,
              attn_mask,
              scale,
              q_zero_points, // q_zero_points
              q_scales, // q_scales
              k_zero_points, // k_zero_points
              k_scales, // k_scales
              v_zero_points, // v_zero_points
              v_scales, // v_scales
              seq_dim, /* seq_dim */
              start_pos,
              num_keys_for_causal_attention);
        }
      });
  return output;
}

Tensor& custom_quantized_sdpa_out(
    RuntimeContext& ctx,
    const Tensor& q,
    const Tensor& k,
    const Tensor& v,
    const int64_t start_pos,
    const optional<Tensor>& attn_mask,
    const double dropout_p,
    const bool is_causal,
    // @lint-ignore CLANGTIDY facebook-hte-ParameterMightThrowOnCopy
    const optional<double> scale,
    const optional<Tensor>& q_zero_points,
    const optional<Tensor>& q_scales,
    const optional<Tensor>& k_zero_points,
    const optional<Tensor>& k_scales,
    const optional<Tensor>& v_zero_points,
    const optional<Tensor>& v_scales,
    const bool is_seq_at_dim_2,
    Tensor& output) {
  return custom_sdpa_out_impl(
      ctx,
      q,
      k,
      v,
      start_pos,
      attn_mask,
      dropout_p,
      is_causal,
      scale,
      output,
      q_zero_points,
      q_scales,
      k_zero_points,
      k_scales,
      v_zero_points,
      v_scales,
      is_seq_at_dim_2);
}

/*
  Input params
  @param[in] q_projected Projected query with query weights.
  Format [n_layers, batch size, seq_len, num heads, head dim]
  @param[in] k_projected Projected query with key weights.
  Format [n_layers, batch size, seq_len, num heads, head dim]
  @param[in] v_projected Projected query with value weights.
  Format [n_layers, batch size, seq_len, num heads, head dim]
  @param[in] key_cache Cache of previous k_projected.
  Format [n_layers, batch size, max_seq_len, num heads, head dim]
  @param[in] key_cache Cache of previous v_projected.
  Format [n_layers, batch size, max_seq_len, num heads, head dim]
  ....
  @param[in] start_pos: sequence position
*/
Tensor& custom_sdpa_out(
    RuntimeContext& ctx,
    const Tensor& q,
    const Tensor& k,
    const Tensor& v,
    const int64_t start_pos,
    const optional<Tensor>& attn_mask,
    const double dropout_p,
    const bool is_causal,
    // @lint-ignore CLANGTIDY facebook-hte-ParameterMightThrowOnCopy
    const optional<double> scale,
    Tensor& output) {
  return custom_sdpa_out_impl(
      ctx, q, k, v, start_pos, attn_mask, dropout_p, is_causal, scale, output);
}
/*
  Input params
  @param[in] q_projected Projected query with query weights.
  Format [n_layers, batch size, seq_len, num heads, head dim]
  @param[in] k_projected Projected query with key weights.
  Format [n_layers, batch size, seq_len, num heads, head dim]
  @param[in] v_projected Projected query with value weights.
  Format [n_layers, batch size, seq_len, num heads, head dim]
  @param[in] key_cache Cache of previous k_projected.
  Format [n_layers, batch size, max_seq_len, num heads, head dim]
  @param[in] key_cache Cache of previous v_projected.
  Format [n_layers, batch size, max_seq_len, num heads, head dim]
  ....
  @param[in] start_pos: sequence position
  @param[in] seq_len: Seq length. e.g. seq_len dim of q_projected.
*/
Tensor& sdpa_with_kv_cache_out(
    KernelRuntimeContext& ctx,
    const Tensor& q_projected,
    const Tensor& k_projected,
    const Tensor& v_projected,
    Tensor& key_cache,
    Tensor& value_cache,
    const int64_t start_pos,
    const int64_t seq_len,
    const optional<Tensor>& attn_mask,
    const double dropout_p,
    const bool is_causal,
    // @lint-ignore CLANGTIDY facebook-hte-ParameterMightThrowOnCopy
    const optional<double> scale,
    Tensor& output) {
  (void)ctx;
  ET_KERNEL_CHECK(
      ctx,
      validate_cache_params(key_cache, value_cache, start_pos, seq_len),
      InvalidArgument,
      output);

  ET_CHECK_MSG(q_projected.dim() == 4, "query must be a 4D tensor");

  update_cache(k_projected, key_cache, start_pos, seq_len);
  update_cache(v_projected, value_cache, start_pos, seq_len);

  custom_sdpa_out(
      ctx,
      q_projected,
      key_cache,
      value_cache,
      start_pos,
      attn_mask,
      dropout_p,
      is_causal,
      scale,
      output);

  return output;
}

ET_INLINE void vec_scale(float* data, float scale, int64_t size) {
  int64_t idx = 0;
#if defined(__APPLE__) && defined(__ARM_NEON)
  constexpr int64_t vector_size = 4;
  for (; idx + 2 * vector_size <= size; idx += 2 * vector_size) {
    const float32x4_t data_vec0 = vld1q_f32(data + idx);
    const float32x4_t data_vec1 = vld1q_f32(data + idx + vector_size);
    vst1q_f32(data + idx, vmulq_n_f32(data_vec0, scale));
    vst1q_f32(data + idx + vector_size, vmulq_n_f32(data_vec1, scale));
  }
  for (; idx + vector_size <= size; idx += vector_size) {
    const float32x4_t data_vec = vld1q_f32(data + idx);
    vst1q_f32(data + idx, vmulq_n_f32(data_vec, scale));
  }
#endif
  for (; idx < size; ++idx) {
    data[idx] *= scale;
  }
}

ET_INLINE void vec_axpy(float* y, const float* x, float alpha, int64_t size) {
  int64_t idx = 0;
#if defined(__APPLE__) && defined(__ARM_NEON)
  constexpr int64_t vector_size = 4;
  for (; idx + 2 * vector_size <= size; idx += 2 * vector_size) {
    const float32x4_t x_vec0 = vld1q_f32(x + idx);
    const float32x4_t x_vec1 = vld1q_f32(x + idx + vector_size);
    const float32x4_t y_vec0 = vld1q_f32(y + idx);
    const float32x4_t y_vec1 = vld1q_f32(y + idx + vector_size);
    vst1q_f32(y + idx, vmlaq_n_f32(y_vec0, x_vec0, alpha));
    vst1q_f32(y + idx + vector_size, vmlaq_n_f32(y_vec1, x_vec1, alpha));
  }
  for (; idx + vector_size <= size; idx += vector_size) {
    const float32x4_t x_vec = vld1q_f32(x + idx);
    const float32x4_t y_vec = vld1q_f32(y + idx);
    vst1q_f32(y + idx, vmlaq_n_f32(y_vec, x_vec, alpha));
  }
#endif
  for (; idx < size; ++idx) {
    y[idx] += x[idx] * alpha;
  }
}

ET_INLINE void vec_state_update_and_output(
    float* state,
    const float* delta,
    float* output,
    float decay,
    float key,
    float query,
    int64_t size) {
  int64_t idx = 0;
#if defined(__APPLE__) && defined(__ARM_NEON)
  constexpr int64_t vector_size = 4;
  for (; idx + 2 * vector_size <= size; idx += 2 * vector_size) {
    const float32x4_t state_vec0 = vld1q_f32(state + idx);
    const float32x4_t state_vec1 = vld1q_f32(state + idx + vector_size);
    const float32x4_t delta_vec0 = vld1q_f32(delta + idx);
    const float32x4_t delta_vec1 = vld1q_f32(delta + idx + vector_size);
    const float32x4_t updated_vec0 =
        vmlaq_n_f32(vmulq_n_f32(delta_vec0, key), state_vec0, decay);
    const float32x4_t updated_vec1 =
        vmlaq_n_f32(vmulq_n_f32(delta_vec1, key), state_vec1, decay);
    const float32x4_t output_vec0 = vld1q_f32(output + idx);
    const float32x4_t output_vec1 = vld1q_f32(output + idx + vector_size);
    vst1q_f32(state + idx, updated_vec0);
    vst1q_f32(state + idx + vector_size, updated_vec1);
    vst1q_f32(output + idx, vmlaq_n_f32(output_vec0, updated_vec0, query));
    vst1q_f32(
        output + idx + vector_size,
        vmlaq_n_f32(output_vec1, updated_vec1, query));
  }
  for (; idx + vector_size <= size; idx += vector_size) {
    const float32x4_t state_vec = vld1q_f32(state + idx);
    const float32x4_t delta_vec = vld1q_f32(delta + idx);
    const float32x4_t updated_vec =
        vmlaq_n_f32(vmulq_n_f32(delta_vec, key), state_vec, decay);
    const float32x4_t output_vec = vld1q_f32(output + idx);
    vst1q_f32(state + idx, updated_vec);
    vst1q_f32(output + idx, vmlaq_n_f32(output_vec, updated_vec, query));
  }
#endif
  for (; idx < size; ++idx) {
    const float updated = state[idx] * decay + key * delta[idx];
    state[idx] = updated;
    output[idx] += updated * query;
  }
}

// Shared full-sequence recurrence: streams the K x V state twice per token (see
// the two-pass comments inline). Used by the T==1 decode path and as the exact
// prefill fallback when decay contains non-positive entries -- the chunked
// kernel takes log(decay) and cannot represent decay <= 0.
//
// kScalarDecay selects the decay layout: channelwise decay is [B, Hkv, T, K]
// (one value per state row), scalar decay is [B, Hkv, T] and is broadcast
// across the K rows. Templating rather than passing a runtime stride keeps the
// channelwise codegen unchanged and turns the scalar read into a
// loop-invariant load.
template <bool kScalarDecay>
void gated_delta_rule_recurrence(
    RuntimeContext& ctx,
    const Tensor& query,
    const Tensor& key,
    const Tensor& value,
    const Tensor& decay,
    const Tensor& beta,
    const Tensor& initial_state,
    Tensor& out,
    Tensor& final_state_out) {
  constexpr int64_t decay_channel_stride = kScalarDecay ? 0 : 1;
  const auto batch_size = query.size(0);
  const auto num_query_heads = query.size(1);
  const auto num_kv_heads = key.size(1);
  const auto query_heads_per_kv = num_query_heads / num_kv_heads;
  const auto sequence_length = query.size(2);
  const auto k_head_dim = query.size(3);
  const auto v_head_dim = value.size(3);

  const auto query_batch_stride =
      num_query_heads * sequence_length * k_head_dim;
  const auto kv_batch_stride = num_kv_heads * sequence_length * k_head_dim;
  const auto qk_head_stride = sequence_length * k_head_dim;
  const auto qk_seq_stride = k_head_dim;

  const auto value_batch_stride = num_kv_heads * sequence_length * v_head_dim;
  const auto output_batch_stride =
      num_query_heads * sequence_length * v_head_dim;
  const auto value_head_stride = sequence_length * v_head_dim;
  const auto value_seq_stride = v_head_dim;

  const auto beta_batch_stride = num_kv_heads * sequence_length;
  const auto beta_head_stride = sequence_length;

  const auto decay_seq_stride = kScalarDecay ? int64_t{1} : k_head_dim;
  const auto decay_head_stride = sequence_length * decay_seq_stride;
  const auto decay_batch_stride = num_kv_heads * decay_head_stride;

  const auto state_batch_stride = num_kv_heads * k_head_dim * v_head_dim;
  const auto state_head_stride = k_head_dim * v_head_dim;

  const auto* query_data = query.const_data_ptr<float>();
  const auto* key_data = key.const_data_ptr<float>();
  const auto* value_data = value.const_data_ptr<float>();
  const auto* decay_data = decay.const_data_ptr<float>();
  const auto* beta_data = beta.const_data_ptr<float>();
  const auto* initial_state_data = initial_state.const_data_ptr<float>();
  auto* state_data = final_state_out.mutable_data_ptr<float>();
  auto* output_data = out.mutable_data_ptr<float>();

  const int64_t scratch_numel = 2 * v_head_dim;
  std::unique_ptr<float[]> fallback_scratch;
  float* scratch_data = nullptr;
  Result<void*> scratch = ctx.allocate_temp(
      scratch_numel * sizeof(float), /*alignment=*/alignof(float));
  if (scratch.ok()) {
    scratch_data = reinterpret_cast<float*>(scratch.get());
  } else {
    // nothrow so an allocation failure surfaces as a null scratch routed
    // through ET_KERNEL_CHECK rather than an uncaught std::bad_alloc.
    fallback_scratch.reset(new (std::nothrow) float[scratch_numel]);
    scratch_data = fallback_scratch.get();
  }
  ET_KERNEL_CHECK(ctx, scratch_data != nullptr, MemoryAllocationFailed, );
  float* v_pred = scratch_data;
  float* delta = scratch_data + v_head_dim;

  for (int64_t batch = 0; batch < batch_size; ++batch) {
    for (int64_t kv_head = 0; kv_head < num_kv_heads; ++kv_head) {
      const auto kv_offset = batch * kv_batch_stride + kv_head * qk_head_stride;
      const auto value_offset =
          batch * value_batch_stride + kv_head * value_head_stride;
      const auto beta_offset =
          batch * beta_batch_stride + kv_head * beta_head_stride;
      const auto state_offset =
          batch * state_batch_stride + kv_head * state_head_stride;

      const auto* k_head = key_data + kv_offset;
      const auto* decay_head =
          decay_data + batch * decay_batch_stride + kv_head * decay_head_stride;
      const auto* value_head = value_data + value_offset;
      const auto* beta_head = beta_data + beta_offset;
      const auto* initial_state_head = initial_state_data + state_offset;
      auto* state_head = state_data + state_offset;
      auto* output_group = output_data + batch * output_batch_stride +
          kv_head * query_heads_per_kv * value_head_stride;

      // Functional: seed the running state from initial_state without mutating
      // the (read-only) input.
      for (int64_t idx = 0; idx < state_head_stride; ++idx) {
        state_head[idx] = initial_state_head[idx];
      }

      for (int64_t token = 0; token < sequence_length; ++token) {
        const auto* k_t = k_head + token * qk_seq_stride;
        const auto* decay_t = decay_head + token * decay_seq_stride;
        const auto* v_t = value_head + token * value_seq_stride;
        const float beta_t = beta_head[token];

        // The recurrence needs only two passes over the K x V state S:
        //   pass 1 (read-only): v_pred = (Diag(decay) S)^T k
        //   pass 2 (read+write): S = Diag(decay) S + k (x) delta;  o = S^T q
        // Decay is folded into both passes (never materialized separately), and
        // the rank-1 write and output readout share pass 2, so S is streamed
        // twice per token instead of four times. Multiply groupings match the
        // naive form, so results are identical up to floating-point contraction
        // (e.g. compiler FMA).

        // Pass 1: predicted value off the decayed state (S left untouched).
        std::fill(v_pred, v_pred + v_head_dim, 0.0f);
        for (int64_t k_idx = 0; k_idx < k_head_dim; ++k_idx) {
          const float decay_value = decay_t[k_idx * decay_channel_stride];
          const float key_value = k_t[k_idx];
          const auto* state_row = state_head + k_idx * v_head_dim;
          vec_axpy(v_pred, state_row, decay_value * key_value, v_head_dim);
        }

        // delta = beta * (v - v_pred).
        for (int64_t v_idx = 0; v_idx < v_head_dim; ++v_idx) {
          delta[v_idx] = (v_t[v_idx] - v_pred[v_idx]) * beta_t;
        }

        if (query_heads_per_kv == 1) {
          const auto* q_t = query_data + batch * query_batch_stride +
              kv_head * qk_head_stride + token * qk_seq_stride;
          auto* output_t = output_group + token * value_seq_stride;
          std::fill(output_t, output_t + v_head_dim, 0.0f);
          for (int64_t k_idx = 0; k_idx < k_head_dim; ++k_idx) {
            const float decay_value = decay_t[k_idx * decay_channel_stride];
            const float key_value = k_t[k_idx];
            const float query_value = q_t[k_idx];
            auto* state_row = state_head + k_idx * v_head_dim;
            vec_state_update_and_output(
                state_row,
                delta,
                output_t,
                decay_value,
                key_value,
                query_value,
                v_head_dim);
          }
          continue;
        }

        for (int64_t k_idx = 0; k_idx < k_head_dim; ++k_idx) {
          const float decay_value = decay_t[k_idx * decay_channel_stride];
          const float key_value = k_t[k_idx];
          auto* state_row = state_head + k_idx * v_head_dim;
          int64_t idx = 0;
#if defined(__APPLE__) && defined(__ARM_NEON)
          constexpr int64_t vector_size = 4;
          for (; idx + 2 * vector_size <= v_head_dim; idx += 2 * vector_size) {
            const float32x4_t state_vec0 = vld1q_f32(state_row + idx);
            const float32x4_t state_vec1 =
                vld1q_f32(state_row + idx + vector_size);
            const float32x4_t delta_vec0 = vld1q_f32(delta + idx);
            const float32x4_t delta_vec1 = vld1q_f32(delta + idx + vector_size);
            const float32x4_t updated_vec0 = vmlaq_n_f32(
                vmulq_n_f32(state_vec0, decay_value), delta_vec0, key_value);
            const float32x4_t updated_vec1 = vmlaq_n_f32(
                vmulq_n_f32(state_vec1, decay_value), delta_vec1, key_value);
            vst1q_f32(state_row + idx, updated_vec0);
            vst1q_f32(state_row + idx + vector_size, updated_vec1);
          }
          for (; idx + vector_size <= v_head_dim; idx += vector_size) {
            const float32x4_t state_vec = vld1q_f32(state_row + idx);
            const float32x4_t delta_vec = vld1q_f32(delta + idx);
            const float32x4_t updated_vec = vmlaq_n_f32(
                vmulq_n_f32(state_vec, decay_value), delta_vec, key_value);
            vst1q_f32(state_row + idx, updated_vec);
          }
#endif
          for (; idx < v_head_dim; ++idx) {
            state_row[idx] =
                state_row[idx] * decay_value + key_value * delta[idx];
          }
        }

        for (int64_t group_head = 0; group_head < query_heads_per_kv;
             ++group_head) {
          const auto query_head = kv_head * query_heads_per_kv + group_head;
          const auto* q_t = query_data + batch * query_batch_stride +
              query_head * qk_head_stride + token * qk_seq_stride;
          auto* output_t = output_group + group_head * value_head_stride +
              token * value_seq_stride;
          std::fill(output_t, output_t + v_head_dim, 0.0f);
          for (int64_t k_idx = 0; k_idx < k_head_dim; ++k_idx) {
            const float query_value = q_t[k_idx];
            const auto* state_row = state_head + k_idx * v_head_dim;
            vec_axpy(output_t, state_row, query_value, v_head_dim);
          }
        }
      }
    }
  }
}

// Chunk length for the chunkwise recurrence. Kept small so that
// exp(-cumsum(log decay)) over a chunk stays finite (see eg_inv in step 1).
constexpr int64_t CHUNK_SIZE = 32;

// Round a float count up to a 64-byte (16-float) boundary so each per-worker
// scratch slab is cache-line aligned (avoids false sharing between workers).
inline int64_t chunk_scratch_align(int64_t n) {
  constexpr int64_t kAlign = 16; // floats; 16 * 4B = 64B
  return (n + kAlign - 1) / kAlign * kAlign;
}

// One worker's scratch for the chunked kernel, carved from a single arena so
// there is one allocate_temp for the whole op and disjoint per-worker slabs.
// D below is K for channelwise decay and 1 for scalar decay.
struct ChunkScratch {
  float* gc; // [CHUNK_SIZE, D]  cumulative log-decay
  float* eg; // [CHUNK_SIZE, D]  exp(gc)
  float* eg_inv; // [CHUNK_SIZE, D]  exp(-gc)
  float* w; // [CHUNK_SIZE, K]  WY pseudo-keys
  float* u; // [CHUNK_SIZE, V]  WY pseudo-values
  float* pv; // [CHUNK_SIZE, V]  u - w @ S
  float* Aqk; // [CHUNK_SIZE, CHUNK_SIZE]
  float* A; // [CHUNK_SIZE, CHUNK_SIZE]  k.k -> UT inverse (beta-folded)
  float* de; // [CHUNK_SIZE]  decay from row r to chunk end

  // Floats needed by one worker. Single source of truth for sizing + carving.
  static int64_t
  elems(int64_t k_head_dim, int64_t v_head_dim, int64_t decay_channels) {
    return 3 *
        chunk_scratch_align(CHUNK_SIZE * decay_channels) + // gc,eg,eg_inv
        chunk_scratch_align(CHUNK_SIZE * k_head_dim) + // w
        2 * chunk_scratch_align(CHUNK_SIZE * v_head_dim) + // u, pv
        2 * chunk_scratch_align(CHUNK_SIZE * CHUNK_SIZE) + // Aqk, A
        chunk_scratch_align(CHUNK_SIZE); // de
  }

  static ChunkScratch view(
      float* p,
      int64_t k_head_dim,
      int64_t v_head_dim,
      int64_t decay_channels) {
    const int64_t nd = chunk_scratch_align(CHUNK_SIZE * decay_channels);
    const int64_t nk = chunk_scratch_align(CHUNK_SIZE * k_head_dim);
    const int64_t nv = chunk_scratch_align(CHUNK_SIZE * v_head_dim);
    const int64_t nbb = chunk_scratch_align(CHUNK_SIZE * CHUNK_SIZE);
    ChunkScratch s{};
    s.gc = p;
    p += nd;
    s.eg = p;
    p += nd;
    s.eg_inv = p;
    p += nd;
    s.w = p;
    p += nk;
    s.u = p;
    p += nv;
    s.pv = p;
    p += nv;
    s.Aqk = p;
    p += nbb;
    s.A = p;
    p += nbb;
    s.de = p;
    return s;
  }
};

// T != 1 (prefill) route. See gated_delta_rule_recurrence for kScalarDecay.
template <bool kScalarDecay>
void gated_delta_rule_chunked(
    RuntimeContext& ctx,
    const Tensor& query,
    const Tensor& key,
    const Tensor& value,
    const Tensor& decay,
    const Tensor& beta,
    const Tensor& initial_state,
    Tensor& out,
    Tensor& final_state_out) {
  constexpr int64_t decay_channel_stride = kScalarDecay ? 0 : 1;
  const auto batch_size = query.size(0);
  const auto num_query_heads = query.size(1);
  const auto num_kv_heads = key.size(1);
  const auto query_heads_per_kv = num_query_heads / num_kv_heads;
  const auto sequence_length = query.size(2);
  const auto k_head_dim = query.size(3);
  const auto v_head_dim = value.size(3);
  const auto num_chunks = (sequence_length + CHUNK_SIZE - 1) / CHUNK_SIZE;

  const auto* query_data = query.const_data_ptr<float>();
  const auto* key_data = key.const_data_ptr<float>();
  const auto* value_data = value.const_data_ptr<float>();
  const auto* decay_data = decay.const_data_ptr<float>();
  const auto* beta_data = beta.const_data_ptr<float>();
  const auto* initial_state_data = initial_state.const_data_ptr<float>();
  auto* state_data = final_state_out.mutable_data_ptr<float>();
  auto* output_data = out.mutable_data_ptr<float>();

  // Per-head strides. q/k are [.., T, K]; v/out are [.., T, V]; decay is
  // [.., T, K] channelwise and [.., T] scalar.
  const auto qk_head_stride = sequence_length * k_head_dim;
  const auto v_head_stride = sequence_length * v_head_dim;
  const auto beta_head_stride = sequence_length;
  const auto state_head_stride = k_head_dim * v_head_dim;
  const auto decay_channels = kScalarDecay ? int64_t{1} : k_head_dim;
  const auto decay_head_stride = sequence_length * decay_channels;

  // One scratch arena for the whole op: a single temp allocation carved into a
  // disjoint slab per worker (indexed by thread id), reused across chunks. The
  // arena is NOT zeroed; every scratch element is assigned before it is read
  // (only the causal j <= r triangles of Aqk/A and rows < cur are ever used).
  const int64_t size_per_thread =
      ChunkScratch::elems(k_head_dim, v_head_dim, decay_channels);
#ifdef ET_USE_THREADPOOL
  const int64_t num_thread =
      ::executorch::extension::threadpool::get_threadpool()->get_thread_count();
#else
  const int64_t num_thread = 1;
#endif
  const int64_t size_bytes = size_per_thread * num_thread * sizeof(float);
  constexpr std::size_t kArenaAlign = 64;
  std::unique_ptr<char[]> fallback_buf;
  float* arena = nullptr;
  Result<void*> scratch = ctx.allocate_temp(size_bytes, kArenaAlign);
  if (scratch.ok()) {
    arena = reinterpret_cast<float*>(scratch.get());
  } else {
    // allocate_temp guarantees 64B alignment; the heap fallback must match it
    // so per-worker slabs stay cache-line separated (else false sharing
    // returns). Over-allocate and align the base into the buffer. nothrow so an
    // allocation failure surfaces as a null arena routed through
    // ET_KERNEL_CHECK rather than an uncaught std::bad_alloc.
    fallback_buf.reset(new (std::nothrow) char[size_bytes + kArenaAlign - 1]);
    if (fallback_buf) {
      void* base = fallback_buf.get();
      std::size_t space =
          static_cast<std::size_t>(size_bytes) + kArenaAlign - 1;
      arena = reinterpret_cast<float*>(std::align(
          kArenaAlign, static_cast<std::size_t>(size_bytes), base, space));
    }
  }
  ET_KERNEL_CHECK(ctx, arena != nullptr, MemoryAllocationFailed, );

  // KV heads are independent. Each worker updates one state and writes all
  // query heads assigned to it.
  torch::executor::parallel_for(
      0,
      batch_size * num_kv_heads,
      /*grain_size=*/1,
      [&](int64_t bh_begin, int64_t bh_end) {
        for (int64_t bh = bh_begin; bh < bh_end; ++bh) {
          const int64_t batch = bh / num_kv_heads;
          const int64_t kv_head = bh % num_kv_heads;
          const int64_t query_head_begin = kv_head * query_heads_per_kv;
          const int64_t tid = torch::executor::get_thread_num();
          const ChunkScratch sc = ChunkScratch::view(
              arena + tid * size_per_thread,
              k_head_dim,
              v_head_dim,
              decay_channels);
          const auto* __restrict__ k_head = key_data + bh * qk_head_stride;
          const auto* __restrict__ v_head = value_data + bh * v_head_stride;
          const auto* __restrict__ d_head = decay_data + bh * decay_head_stride;
          const auto* __restrict__ beta_head =
              beta_data + bh * beta_head_stride;
          const auto* __restrict__ init_head =
              initial_state_data + bh * state_head_stride;
          auto* __restrict__ S = state_data + bh * state_head_stride;

          // Seed the running state from the (read-only) initial_state.
          for (const auto idx : c10::irange(state_head_stride)) {
            S[idx] = init_head[idx];
          }

          for (const auto chunk : c10::irange(num_chunks)) {
            const int64_t base = chunk * CHUNK_SIZE;
            // Ragged tail: the last chunk may hold fewer than CHUNK_SIZE
            // tokens.
            const int64_t cur =
                std::min<int64_t>(CHUNK_SIZE, sequence_length - base);
            const auto* __restrict__ k_c = k_head + base * k_head_dim;
            const auto* __restrict__ v_c = v_head + base * v_head_dim;
            const auto* __restrict__ d_c = d_head + base * decay_channels;
            const auto* __restrict__ beta_c = beta_head + base;
            const auto* __restrict__ single_q_c = query_heads_per_kv == 1
                ? query_data +
                    (batch * num_query_heads + query_head_begin) *
                        qk_head_stride +
                    base * k_head_dim
                : nullptr;
            auto* __restrict__ single_o_c = query_heads_per_kv == 1
                ? output_data +
                    (batch * num_query_heads + query_head_begin) *
                        v_head_stride +
                    base * v_head_dim
                : nullptr;

            // 1. gc = cumsum_r(log decay) (per channel; resets each chunk).
            // Reordered so the inner loop runs contiguously over k; the running
            // cumsum is read back from the previous gc row. Scalar decay has a
            // single column, so this sweep costs one log/exp pair per token
            // instead of k_head_dim of them.
            for (const auto r : c10::irange(cur)) {
              const float* __restrict__ d_row = d_c + r * decay_channels;
              const float* __restrict__ gc_prev =
                  r == 0 ? nullptr : sc.gc + (r - 1) * decay_channels;
              float* __restrict__ gc_row = sc.gc + r * decay_channels;
              float* __restrict__ eg_row = sc.eg + r * decay_channels;
              float* __restrict__ eg_inv_row = sc.eg_inv + r * decay_channels;
              for (const auto k_idx : c10::irange(decay_channels)) {
                const float prev = gc_prev == nullptr ? 0.0f : gc_prev[k_idx];
                const float acc = prev + std::log(d_row[k_idx]);
                gc_row[k_idx] = acc;
                eg_row[k_idx] = std::exp(acc);
                eg_inv_row[k_idx] = std::exp(-acc);
              }
            }

            // 2. A = -beta_r * strictlower(Akk).
            //    ratio = exp(gc[r,k] - gc[j,k]) = eg[r,k] * eg_inv[j,k],
            //    factored so the exp is hoisted out of the O(BT^2) pair loop.
            //    Safe because BT is small enough that exp(-gc) does not
            //    overflow (see eg_inv above).
            for (const auto r : c10::irange(cur)) {
              const float beta_r = beta_c[r];
              for (const auto j : c10::irange(r + 1)) {
                float aqk = 0.0f, akk = 0.0f;
                for (const auto k_idx : c10::irange(k_head_dim)) {
                  const int64_t d_idx = k_idx * decay_channel_stride;
                  const float ratio = sc.eg[r * decay_channels + d_idx] *
                      sc.eg_inv[j * decay_channels + d_idx];
                  if (query_heads_per_kv == 1) {
                    aqk += single_q_c[r * k_head_dim + k_idx] *
                        k_c[j * k_head_dim + k_idx] * ratio;
                  }
                  if (j < r) {
                    akk += k_c[r * k_head_dim + k_idx] *
                        k_c[j * k_head_dim + k_idx] * ratio;
                  }
                }
                if (query_heads_per_kv == 1) {
                  sc.Aqk[r * CHUNK_SIZE + j] = aqk;
                }
                sc.A[r * CHUNK_SIZE + j] = (j < r) ? -beta_r * akk : 0.0f;
              }
            }

            // 3. UT inverse by forward substitution, then + I and right-scale
            // by
            //    diag(beta) (column j scaled by beta_j) -> A is now the WY
            //    transform.
            for (const auto r : c10::irange(int64_t{1}, cur)) {
              for (const auto j : c10::irange(r)) {
                float s = sc.A[r * CHUNK_SIZE + j];
                for (const auto m : c10::irange(j + 1, r)) {
                  s += sc.A[r * CHUNK_SIZE + m] * sc.A[m * CHUNK_SIZE + j];
                }
                sc.A[r * CHUNK_SIZE + j] = s;
              }
            }
            for (const auto r : c10::irange(cur)) {
              sc.A[r * CHUNK_SIZE + r] = 1.0f; // + I
              for (const auto j : c10::irange(r + 1)) {
                sc.A[r * CHUNK_SIZE + j] *= beta_c[j]; // right diag(beta)
              }
            }

            // 4. WY packing: w = A @ (exp(gc) * k), u = A @ v  (A lower-tri: j
            // <= r). Reordered so the inner loop runs contiguously over k / v.
            for (const auto r : c10::irange(cur)) {
              float* __restrict__ w_row = sc.w + r * k_head_dim;
              float* __restrict__ u_row = sc.u + r * v_head_dim;
              for (const auto k_idx : c10::irange(k_head_dim)) {
                w_row[k_idx] = 0.0f;
              }
              for (const auto v_idx : c10::irange(v_head_dim)) {
                u_row[v_idx] = 0.0f;
              }
              for (const auto j : c10::irange(r + 1)) {
                const float arj = sc.A[r * CHUNK_SIZE + j];
                const float* __restrict__ eg_row = sc.eg + j * decay_channels;
                const float* __restrict__ k_row = k_c + j * k_head_dim;
                for (const auto k_idx : c10::irange(k_head_dim)) {
                  w_row[k_idx] +=
                      arj * eg_row[k_idx * decay_channel_stride] * k_row[k_idx];
                }
                const float* __restrict__ v_row = v_c + j * v_head_dim;
                vec_axpy(u_row, v_row, arj, v_head_dim);
              }
            }

            // 5. pv = u - w @ S_old.
            for (const auto r : c10::irange(cur)) {
              float* __restrict__ pv_row = sc.pv + r * v_head_dim;
              float* __restrict__ o_row = query_heads_per_kv == 1
                  ? single_o_c + r * v_head_dim
                  : nullptr;
              for (const auto v_idx : c10::irange(v_head_dim)) {
                pv_row[v_idx] = 0.0f;
                if (query_heads_per_kv == 1) {
                  o_row[v_idx] = 0.0f;
                }
              }
              for (const auto k_idx : c10::irange(k_head_dim)) {
                const float wrk = sc.w[r * k_head_dim + k_idx];
                const float* __restrict__ s_row = S + k_idx * v_head_dim;
                const float qrk = query_heads_per_kv == 1
                    ? single_q_c[r * k_head_dim + k_idx] *
                        sc.eg[r * decay_channels + k_idx * decay_channel_stride]
                    : 0.0f;
                for (const auto v_idx : c10::irange(v_head_dim)) {
                  pv_row[v_idx] += wrk * s_row[v_idx];
                  if (query_heads_per_kv == 1) {
                    o_row[v_idx] += qrk * s_row[v_idx];
                  }
                }
              }
              const float* __restrict__ u_row = sc.u + r * v_head_dim;
              for (const auto v_idx : c10::irange(v_head_dim)) {
                pv_row[v_idx] = u_row[v_idx] - pv_row[v_idx];
              }
            }

            if (query_heads_per_kv == 1) {
              for (const auto r : c10::irange(cur)) {
                float* __restrict__ o_row = single_o_c + r * v_head_dim;
                for (const auto j : c10::irange(r + 1)) {
                  const float a = sc.Aqk[r * CHUNK_SIZE + j];
                  const float* __restrict__ pv_row = sc.pv + j * v_head_dim;
                  vec_axpy(o_row, pv_row, a, v_head_dim);
                }
              }
            }

            // Each query head reads the shared state and pseudo-values. Aqk is
            // query-specific, so its scratch is reused across the group.
            for (const auto group_head : c10::irange(
                     query_heads_per_kv == 1 ? int64_t{0}
                                             : query_heads_per_kv)) {
              const int64_t query_head = query_head_begin + group_head;
              const auto* __restrict__ q_c = query_data +
                  (batch * num_query_heads + query_head) * qk_head_stride +
                  base * k_head_dim;
              auto* __restrict__ o_c = output_data +
                  (batch * num_query_heads + query_head) * v_head_stride +
                  base * v_head_dim;

              for (const auto r : c10::irange(cur)) {
                for (const auto j : c10::irange(r + 1)) {
                  float aqk = 0.0f;
                  for (const auto k_idx : c10::irange(k_head_dim)) {
                    const int64_t d_idx = k_idx * decay_channel_stride;
                    const float ratio = sc.eg[r * decay_channels + d_idx] *
                        sc.eg_inv[j * decay_channels + d_idx];
                    aqk += q_c[r * k_head_dim + k_idx] *
                        k_c[j * k_head_dim + k_idx] * ratio;
                  }
                  sc.Aqk[r * CHUNK_SIZE + j] = aqk;
                }
              }

              for (const auto r : c10::irange(cur)) {
                float* __restrict__ o_row = o_c + r * v_head_dim;
                for (const auto v_idx : c10::irange(v_head_dim)) {
                  o_row[v_idx] = 0.0f;
                }
                for (const auto k_idx : c10::irange(k_head_dim)) {
                  const float qrk = q_c[r * k_head_dim + k_idx] *
                      sc.eg[r * decay_channels + k_idx * decay_channel_stride];
                  const float* __restrict__ s_row = S + k_idx * v_head_dim;
                  vec_axpy(o_row, s_row, qrk, v_head_dim);
                }
                for (const auto j : c10::irange(r + 1)) {
                  const float a = sc.Aqk[r * CHUNK_SIZE + j];
                  const float* __restrict__ pv_row = sc.pv + j * v_head_dim;
                  vec_axpy(o_row, pv_row, a, v_head_dim);
                }
              }
            }

            // 6. S = diag(exp gc_last) S + (k ⊙ decay_to_end)^T @ pv.
            //    decay_to_end must stay exp(gc_last - gc[r]) (a small, safe
            //    diff); eg[r] can underflow to 0 deep in a chunk, so
            //    eg_last/eg[r] would be 0/0. Precompute it per channel to keep
            //    it out of the v loop.
            for (const auto k_idx : c10::irange(k_head_dim)) {
              const int64_t d_idx = k_idx * decay_channel_stride;
              const float gc_last = sc.gc[(cur - 1) * decay_channels + d_idx];
              const float eg_last = sc.eg[(cur - 1) * decay_channels + d_idx];
              // Every state row shares one decay column under scalar decay, so
              // the exp() sweep only has to run for the first row.
              if (!kScalarDecay || k_idx == 0) {
                for (const auto r : c10::irange(cur)) {
                  sc.de[r] =
                      std::exp(gc_last - sc.gc[r * decay_channels + d_idx]);
                }
              }
              float* __restrict__ S_row = S + k_idx * v_head_dim;
              vec_scale(S_row, eg_last, v_head_dim);
              for (const auto r : c10::irange(cur)) {
                const float c = k_c[r * k_head_dim + k_idx] * sc.de[r];
                const float* __restrict__ pv_row = sc.pv + r * v_head_dim;
                vec_axpy(S_row, pv_row, c, v_head_dim);
              }
            }
          } // chunk
        } // bh
      }); // parallel_for
}

// The chunked prefill kernel takes std::log(decay); a non-positive decay would
// yield -inf/NaN (eg * eg_inv becomes 0 * inf) that poisons the whole head's
// output. Detect that so callers can route to the recurrence, which handles
// decay <= 0 exactly. NaN is treated as non-positive so NaN decay also takes
// the faithful path instead of contaminating every output element.
// The chunked prefill kernel resets gc = cumsum(log decay) every CHUNK_SIZE
// tokens and forms eg_inv = exp(-gc). For tiny positive decay the within-chunk
// cumulative -log(decay) can exceed the float expf overflow limit (~88.7),
// producing +inf that turns eg * eg_inv into 0 * inf = NaN and poisons the
// whole head's output. A non-positive decay is likewise undefined (std::log).
// Detect both so callers can route to the exact recurrence, which is stable for
// tiny decay and handles decay <= 0. NaN decay is treated as unsafe as well.
bool gated_delta_rule_chunked_is_safe(const Tensor& decay) {
  // Margin below the float32 expf overflow threshold (std::exp overflows around
  // 88.7); 80 leaves headroom for the downstream eg * eg_inv product.
  constexpr float kMaxNegLogSum = 80.0f;
  const auto* decay_data = decay.const_data_ptr<float>();
  const auto batch_heads = decay.size(0) * decay.size(1);
  const auto sequence_length = decay.size(2);
  // Scalar decay ([B, Hkv, T]) carries a single column per token.
  const auto k_head_dim = decay.dim() == 4 ? decay.size(3) : 1;
  const auto head_stride = sequence_length * k_head_dim;
  for (int64_t bh = 0; bh < batch_heads; ++bh) {
    const float* decay_head = decay_data + bh * head_stride;
    for (int64_t base = 0; base < sequence_length; base += CHUNK_SIZE) {
      const int64_t cur = std::min<int64_t>(CHUNK_SIZE, sequence_length - base);
      // gc resets per chunk, so overflow is bounded by the within-chunk
      // cumulative -log(decay) per channel.
      for (int64_t k = 0; k < k_head_dim; ++k) {
        float neg_log_sum = 0.0f;
        for (int64_t r = 0; r < cur; ++r) {
          const float val = decay_head[(base + r) * k_head_dim + k];
          if (!(val > 0.0f)) {
            return false; // decay <= 0 or NaN: log undefined -> recurrence
          }
          neg_log_sum -= std::log(val);
          if (neg_log_sum > kMaxNegLogSum) {
            return false; // exp(-gc) would overflow -> recurrence
          }
        }
      }
    }
  }
  return true;
}

// Bridge the runtime decay layout to the compile-time kernel specialization.
void run_gated_delta_rule_recurrence(
    RuntimeContext& ctx,
    const Tensor& query,
    const Tensor& key,
    const Tensor& value,
    const Tensor& decay,
    const Tensor& beta,
    const Tensor& initial_state,
    bool scalar_decay,
    Tensor& out,
    Tensor& final_state_out) {
  if (scalar_decay) {
    gated_delta_rule_recurrence<true>(
        ctx,
        query,
        key,
        value,
        decay,
        beta,
        initial_state,
        out,
        final_state_out);
  } else {
    gated_delta_rule_recurrence<false>(
        ctx,
        query,
        key,
        value,
        decay,
        beta,
        initial_state,
        out,
        final_state_out);
  }
}

void run_gated_delta_rule_chunked(
    RuntimeContext& ctx,
    const Tensor& query,
    const Tensor& key,
    const Tensor& value,
    const Tensor& decay,
    const Tensor& beta,
    const Tensor& initial_state,
    bool scalar_decay,
    Tensor& out,
    Tensor& final_state_out) {
  if (scalar_decay) {
    gated_delta_rule_chunked<true>(
        ctx,
        query,
        key,
        value,
        decay,
        beta,
        initial_state,
        out,
        final_state_out);
  } else {
    gated_delta_rule_chunked<false>(
        ctx,
        query,
        key,
        value,
        decay,
        beta,
        initial_state,
        out,
        final_state_out);
  }
}

std::tuple<Tensor&, Tensor&> gated_delta_rule_out(
    RuntimeContext& ctx,
    const Tensor& query,
    const Tensor& key,
    const Tensor& value,
    const Tensor& decay,
    const Tensor& beta,
    const Tensor& initial_state,
    Tensor& out,
    Tensor& final_state_out) {
  std::tuple<Tensor&, Tensor&> ret(out, final_state_out);
  // Validate everything before resizing any output, so a bad call leaves the
  // caller's out/final_state_out tensors untouched.
  ET_KERNEL_CHECK(
      ctx,
      validate_gated_delta_rule_args(
          query, key, value, decay, beta, initial_state),
      InvalidArgument,
      ret);
  ET_KERNEL_CHECK_MSG(
      ctx,
      !tensor_memory_ranges_overlap(initial_state, final_state_out),
      InvalidArgument,
      ret,
      "gated_delta_rule final_state_out must not alias initial_state.");
  ET_KERNEL_CHECK(
      ctx, out.scalar_type() == ScalarType::Float, InvalidArgument, ret);
  ET_KERNEL_CHECK(
      ctx,
      final_state_out.scalar_type() == ScalarType::Float,
      InvalidArgument,
      ret);
  ET_KERNEL_CHECK(
      ctx,
      is_contiguous_dim_order(out.dim_order().data(), out.dim()),
      InvalidArgument,
      ret);
  ET_KERNEL_CHECK(
      ctx,
      is_contiguous_dim_order(
          final_state_out.dim_order().data(), final_state_out.dim()),
      InvalidArgument,
      ret);
  const ::executorch::aten::SizesType output_sizes[] = {
      static_cast<::executorch::aten::SizesType>(query.size(0)),
      static_cast<::executorch::aten::SizesType>(query.size(1)),
      static_cast<::executorch::aten::SizesType>(query.size(2)),
      static_cast<::executorch::aten::SizesType>(value.size(3))};
  ET_KERNEL_CHECK_MSG(
      ctx,
      resize_tensor(
          out,
          ::executorch::aten::ArrayRef<::executorch::aten::SizesType>(
              output_sizes, 4)) == Error::Ok,
      InvalidArgument,
      ret,
      "Failed to resize gated_delta_rule output tensor.");
  ET_KERNEL_CHECK_MSG(
      ctx,
      resize_tensor(final_state_out, initial_state.sizes()) == Error::Ok,
      InvalidArgument,
      ret,
      "Failed to resize gated_delta_rule final_state tensor.");

  // Route on sequence length: T == 1 is autoregressive decode (token-by-token
  // recurrence), T != 1 is prefill (chunkwise WY kernel). Prefill falls back to
  // the exact recurrence whenever the chunked kernel would be numerically
  // unsafe
  // -- non-positive decay (log undefined) or tiny positive decay whose
  // within-chunk cumulative -log(decay) would overflow exp(-gc) to inf -> NaN.
  const bool scalar_decay = decay.dim() == 3;
  if (query.size(2) != 1 && gated_delta_rule_chunked_is_safe(decay)) {
    run_gated_delta_rule_chunked(
        ctx,
        query,
        key,
        value,
        decay,
        beta,
        initial_state,
        scalar_decay,
        out,
        final_state_out);
  } else {
    run_gated_delta_rule_recurrence(
        ctx,
        query,
        key,
        value,
        decay,
        beta,
        initial_state,
        scalar_decay,
        out,
        final_state_out);
  }

  return ret;
}
} // namespace native
} // namespace executor
} // namespace torch

EXECUTORCH_LIBRARY(
    llama,
    "sdpa_with_kv_cache.out",
    torch::executor::native::sdpa_with_kv_cache_out);

EXECUTORCH_LIBRARY(
    llama,
    "custom_sdpa.out",
    torch::executor::native::custom_sdpa_out);

EXECUTORCH_LIBRARY(
    llama,
    "custom_quantized_sdpa.out",
    torch::executor::native::custom_quantized_sdpa_out);

namespace {

void gated_delta_rule_out_boxed(
    executorch::runtime::KernelRuntimeContext& ctx,
    executorch::runtime::Span<executorch::runtime::EValue*> stack) {
  executorch::runtime::internal::EventTracerProfileOpScope
      event_tracer_op_scope(
          ctx.internal_event_tracer(),
          "native_call_llama::gated_delta_rule.out");
  // Multi-output out variants get a trailing TensorList aggregating the two
  // outputs appended by the emitter, so the boxed stack has 9 entries: 6 inputs
  // + out + final_state_out + [out, final_state_out]. The aggregate (stack[8])
  // duplicates stack[6]/stack[7] and is ignored.
  ET_KERNEL_CHECK_MSG(
      ctx,
      stack.size() == 9,
      InvalidProgram,
      /* void */,
      "Expected %zu args, got %zu",
      static_cast<size_t>(9),
      stack.size());

  auto& query = stack[0]->toTensor();
  auto& key = stack[1]->toTensor();
  auto& value = stack[2]->toTensor();
  auto& decay = stack[3]->toTensor();
  auto& beta = stack[4]->toTensor();
  auto& initial_state = stack[5]->toTensor();
  auto& out = stack[6]->toTensor();
  auto& final_state_out = stack[7]->toTensor();

  (void)torch::executor::native::gated_delta_rule_out(
      ctx, query, key, value, decay, beta, initial_state, out, final_state_out);
}

const auto gated_delta_rule_out_registration =
    executorch::runtime::register_kernel(executorch::runtime::Kernel(
        "llama::gated_delta_rule.out",
        gated_delta_rule_out_boxed));

// Deprecated alias: the op was named channelwise_gated_delta_rule before it
// learned the scalar decay layout. Kept so .pte files emitted against the old
// name still resolve a kernel; remove once those have been re-exported. Traces
// report the new name for both, since the boxed function is shared.
const auto channelwise_gated_delta_rule_out_registration =
    executorch::runtime::register_kernel(executorch::runtime::Kernel(
        "llama::channelwise_gated_delta_rule.out",
        gated_delta_rule_out_boxed));

} // namespace