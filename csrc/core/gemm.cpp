// gemm.cpp — mm_gemm / mm_batched_gemm / mm_gemm_route: validates a GEMM against the real buffer
// lengths, asks gemm_routing for the kernel, fills the shared GemmParams block and dispatches.
#include <cstddef>
#include <cstring>

#include "../../shaders/gemm_params.h"
#include "entry.h"
#include "gemm_routing.h"
#include "internal.h"

namespace mm::core {
namespace {

static_assert(sizeof(GemmParams) == 112, "GemmParams layout is shared with the shaders");
static_assert(MM_FORMAT_FP4 == GEMM_FMT_FP4 && MM_FORMAT_INT4 == GEMM_FMT_INT4 &&
                  MM_FORMAT_INT4_SYM == GEMM_FMT_INT4_SYM && MM_FORMAT_INT4_AFFINE == GEMM_FMT_INT4_AFFINE &&
                  MM_FORMAT_MXFP4 == GEMM_FMT_MXFP4 && MM_FORMAT_NVFP4 == GEMM_FMT_NVFP4, "format ids");
// The block as it was before scale_dtype/act_dtype/tensor_scale were appended: still accepted.
constexpr uint32_t kParamsV1Bytes = offsetof(mm_gemm_params, scale_dtype);
static_assert(kParamsV1Bytes == 224, "mm_gemm_params v1 size");
static_assert(MM_EPILOGUE_BIAS == GEMM_EPI_BIAS && MM_EPILOGUE_RELU == GEMM_EPI_RELU &&
                  MM_EPILOGUE_SILU == GEMM_EPI_SILU && MM_EPILOGUE_GELU == GEMM_EPI_GELU &&
                  MM_EPILOGUE_RESIDUAL == GEMM_EPI_RESIDUAL && MM_EPILOGUE_SCALE == GEMM_EPI_SCALE &&
                  MM_EPILOGUE_SWIGLU == GEMM_EPI_SWIGLU, "epilogue bits");

constexpr uint32_t kEpilogueAll = 127u;
static_assert((kEpilogueAll & GEMM_EPI_BF16) == 0, "GEMM_EPI_BF16 is internal, not an MM_EPILOGUE bit");
typedef unsigned long long ull;

// Dims after defaults (pitch 0 = dense, ldw 0 = np), shared by route and dispatch.
struct Resolved {
  mm_gemm_params p;
  bool swiglu, fused_up;
};

int resolve(const char* op, const mm_gemm_params* in, bool batched, Resolved* r) {
  if (!in) return fail(MM_E_INVALID_ARG, "%s: params is NULL", op);
  if (in->size < kParamsV1Bytes)
    return fail(MM_E_INVALID_ARG, "%s: params->size = %u but mm_gemm_params is %zu bytes (at least %u)", op,
                in->size, sizeof(mm_gemm_params), kParamsV1Bytes);
  // Fields past the caller's size keep their defaults (f16 scales and activations).
  mm_gemm_params p;
  std::memset(&p, 0, sizeof p);
  std::memcpy(&p, in, in->size < sizeof p ? in->size : sizeof p);
  if (p.batch == 0) p.batch = 1;
  if (!batched && p.batch != 1)
    return fail(MM_E_INVALID_ARG, "%s: batch = %u; use mm_batched_gemm for batch > 1", op, p.batch);
  if (p.m == 0 || p.n == 0 || p.k == 0)
    return fail(MM_E_SHAPE, "%s: m=%u n=%u k=%u must all be >= 1", op, p.m, p.n, p.k);
  if (int rc = check_format(op, p)) return rc;
  if (p.kp < p.k || p.kp % p.group_size)
    return fail(MM_E_SHAPE, "%s: weight has kp = %u but k = %u needs kp >= k and a multiple of group_size %u", op,
                p.kp, p.k, p.group_size);
  if (p.ldw == 0) p.ldw = p.np;
  if (p.ldw < p.np) return fail(MM_E_SHAPE, "%s: ldw = %u is below np = %u", op, p.ldw, p.np);
  if (p.lda == 0) p.lda = p.k;
  if (p.ldc == 0) p.ldc = p.n;
  if (p.ldr == 0) p.ldr = p.n;
  if (p.lda < p.k) return fail(MM_E_SHAPE, "%s: lda = %u is below k = %u", op, p.lda, p.k);
  if (p.ldc < p.n) return fail(MM_E_SHAPE, "%s: ldc = %u is below n = %u", op, p.ldc, p.n);
  if (p.epilogue & ~kEpilogueAll)
    return fail(MM_E_INVALID_ARG, "%s: epilogue 0x%x has unknown bits (known: 0x%x)", op, p.epilogue, kEpilogueAll);
  const uint32_t acts = p.epilogue & (MM_EPILOGUE_RELU | MM_EPILOGUE_SILU | MM_EPILOGUE_GELU);
  if (acts & (acts - 1))
    return fail(MM_E_INVALID_ARG, "%s: epilogue 0x%x asks for more than one of RELU, SILU, GELU", op, p.epilogue);
  if ((p.epilogue & MM_EPILOGUE_RESIDUAL) && p.ldr < p.n)
    return fail(MM_E_SHAPE, "%s: ldr = %u is below n = %u", op, p.ldr, p.n);
  r->swiglu = (p.epilogue & MM_EPILOGUE_SWIGLU) != 0;
  r->fused_up = r->swiglu && p.up_packed == 0;
  // The weight columns one view may read: all of np, or for a fused gate/up matrix n columns each.
  if (r->fused_up) {
    if (p.up_column < p.n || uint64_t(p.up_column) + p.n > p.np)
      return fail(MM_E_SHAPE, "%s: fused SwiGLU needs n <= up_column and up_column + n <= np (n=%u up_column=%u np=%u)",
                  op, p.n, p.up_column, p.np);
  } else if (p.np < p.n) {
    return fail(MM_E_SHAPE, "%s: weight has np = %u columns but n = %u", op, p.np, p.n);
  }
  if (p.batch > 1 && p.stride_c == 0)
    return fail(MM_E_INVALID_ARG, "%s: stride_c = 0 with batch = %u would write every batch to the same output",
                op, p.batch);
  r->p = p;
  return MM_OK;
}

GemmShape shape_of(const Resolved& r) {
  GemmShape s;
  s.m = r.p.m;
  s.n = r.p.n;
  s.k = r.p.k;
  s.format = r.p.format;
  s.group_size = r.p.group_size;
  s.act_dtype = r.p.act_dtype;
  s.batch = r.p.batch;
  s.swiglu = r.swiglu;
  s.split_k = r.p.split_k;
  return s;
}

// Checks that [offset, offset + elems * elem_bytes) lies in the buffer and is aligned; elems is the
// largest element index read or written + 1, computed in 64 bits. Kernels index in 32 bits, so the
// element count must also stay below 2^32.
int need(const char* op, mm_device dev, const char* what, mm_buffer buf, uint64_t offset, uint64_t elems,
         uint32_t elem_bytes, uint32_t align) {
  if (buf == 0) return fail(MM_E_INVALID_ARG, "%s: %s buffer is not set", op, what);
  BufferView v;
  if (int rc = buffer_view(dev, buf, &v)) return fail(rc, "%s: %s buffer 0x%x is not a live buffer of this device", op, what, buf);
  if (offset % align)
    return fail(MM_E_ALIGNMENT, "%s: %s offset %llu is not a multiple of %u bytes", op, what, (ull)offset, align);
  if (elems > 0xffffffffull)
    return fail(MM_E_LIMIT, "%s: %s spans %llu elements; kernels index with 32 bits", op, what, (ull)elems);
  const uint64_t bytes = elems * elem_bytes;
  if (offset > v.length || bytes > v.length - offset)
    return fail(MM_E_BOUNDS, "%s: %s needs %llu bytes at offset %llu but the buffer holds %llu bytes", op, what,
                (ull)bytes, (ull)offset, (ull)v.length);
  return MM_OK;
}

// Elements spanned by `batch` matrices of `rows` x `cols` with row pitch `ld` and batch stride `stride`.
uint64_t span(uint32_t batch, uint32_t stride, uint32_t rows, uint32_t ld, uint32_t cols) {
  return uint64_t(batch - 1) * stride + uint64_t(rows - 1) * ld + cols;
}

// Byte range one argument touches, for the aliasing checks.
struct Extent {
  const char* what;
  mm_buffer buf;
  uint64_t begin, end;
};

bool intersect(const Extent& x, const Extent& y) {
  return x.buf != 0 && x.buf == y.buf && x.begin < y.end && y.begin < x.end;
}

// Threadgroups write C while others still read A, the weights, bias and residual, and batches run in
// parallel: an output that overlaps an input, or one batch's output another's, would make results
// depend on timing. The one exception is the in-place residual (residual == C element for element),
// which each thread reads before it writes the same element.
int check_overlaps(const char* op, const Resolved& r, const mm_gemm_route_info& route) {
  const mm_gemm_params& p = r.p;
  if (p.batch > 1 && uint64_t(p.stride_c) < uint64_t(p.m - 1) * p.ldc + p.n)
    return fail(MM_E_SHAPE, "%s: stride_c = %u makes batch outputs overlap (each needs (m-1)*ldc + n = %llu elements)",
                op, p.stride_c, (ull)(uint64_t(p.m - 1) * p.ldc + p.n));
  const uint64_t c_bytes = span(p.batch, p.stride_c, p.m, p.ldc, p.n) * 2;
  const bool split = route.kind == MM_GEMM_KIND_SPLITK;
  const Extent out[2] = {
      {"c", p.c, p.c_offset, p.c_offset + c_bytes},
      {"workspace", split ? p.workspace : 0, p.workspace_offset, p.workspace_offset + route.workspace_bytes},
  };
  const uint32_t groups = p.kp / p.group_size;
  const uint64_t w_bytes = span(p.stride_w ? p.batch : 1, p.stride_w, p.kp / 8, p.ldw, p.np) * 4;
  const uint64_t s_elems = span(p.stride_s ? p.batch : 1, p.stride_s, groups, p.ldw, p.np);
  const bool up = r.swiglu && !r.fused_up;
  const bool int4 = p.format == MM_FORMAT_INT4;
  const bool affine = p.format == MM_FORMAT_INT4_AFFINE;
  const uint32_t sbytes = scale_bytes(p.scale_dtype);
  const uint64_t z_bytes = s_elems * (affine ? sbytes : 1);
  const bool res_on = (p.epilogue & MM_EPILOGUE_RESIDUAL) != 0;
  const bool res_in_place = res_on && p.residual == p.c && p.residual_offset == p.c_offset && p.ldr == p.ldc &&
                            (p.batch == 1 || p.stride_r == p.stride_c);
  const uint64_t a_bytes = span(p.stride_a ? p.batch : 1, p.stride_a, p.m, p.lda, p.k) * 2;
  const uint64_t r_bytes = span(p.stride_r ? p.batch : 1, p.stride_r, p.m, p.ldr, p.n) * 2;
  const Extent in[9] = {
      {"a", p.a, p.a_offset, p.a_offset + a_bytes},
      {"packed", p.packed, p.packed_offset, p.packed_offset + w_bytes},
      {"scales", p.scales, p.scales_offset, p.scales_offset + s_elems * sbytes},
      {int4 ? "zeros" : "biases", int4 || affine ? p.zeros : 0, p.zeros_offset, p.zeros_offset + z_bytes},
      {"bias", (p.epilogue & MM_EPILOGUE_BIAS) ? p.bias : 0, p.bias_offset, p.bias_offset + uint64_t(p.n) * 2},
      {"residual", res_on && !res_in_place ? p.residual : 0, p.residual_offset, p.residual_offset + r_bytes},
      {"up_packed", up ? p.up_packed : 0, p.up_packed_offset, p.up_packed_offset + w_bytes},
      {"up_scales", up ? p.up_scales : 0, p.up_scales_offset, p.up_scales_offset + s_elems * sbytes},
      {"up_zeros", up && (int4 || affine) ? p.up_zeros : 0, p.up_zeros_offset, p.up_zeros_offset + z_bytes},
  };
  for (const Extent& o : out) {
    for (const Extent& i : in)
      if (intersect(o, i))
        return fail(MM_E_INVALID_ARG, "%s: %s (bytes %llu..%llu) overlaps %s (bytes %llu..%llu) in buffer 0x%x; "
                    "write the result to separate memory", op, o.what, (ull)o.begin, (ull)o.end, i.what,
                    (ull)i.begin, (ull)i.end, o.buf);
  }
  if (intersect(out[0], out[1]))
    return fail(MM_E_INVALID_ARG, "%s: the split-K workspace overlaps c in buffer 0x%x", op, p.c);
  return MM_OK;
}

int validate_buffers(const char* op, mm_device dev, const Resolved& r, const mm_gemm_route_info& route) {
  const mm_gemm_params& p = r.p;
  const uint32_t groups = p.kp / p.group_size;
  const uint32_t wb = p.stride_w ? p.batch : 1, sb = p.stride_s ? p.batch : 1;
  const uint64_t w_words = span(wb, p.stride_w, p.kp / 8, p.ldw, p.np);
  const uint64_t s_elems = span(sb, p.stride_s, groups, p.ldw, p.np);
  if (int rc = need(op, dev, "packed", p.packed, p.packed_offset, w_words, 4, 4)) return rc;
  const uint32_t sbytes = scale_bytes(p.scale_dtype);
  if (int rc = need(op, dev, "scales", p.scales, p.scales_offset, s_elems, sbytes, sbytes)) return rc;
  if (p.format == MM_FORMAT_INT4) {
    if (int rc = need(op, dev, "zeros", p.zeros, p.zeros_offset, s_elems, 1, 1)) return rc;
  } else if (p.format == MM_FORMAT_INT4_AFFINE) {
    if (int rc = need(op, dev, "biases (zeros)", p.zeros, p.zeros_offset, s_elems, sbytes, sbytes)) return rc;
  }
  if (int rc = need(op, dev, "a", p.a, p.a_offset, span(p.stride_a ? p.batch : 1, p.stride_a, p.m, p.lda, p.k), 2, 2))
    return rc;
  if (int rc = need(op, dev, "c", p.c, p.c_offset, span(p.batch, p.stride_c, p.m, p.ldc, p.n), 2, 2)) return rc;
  if (p.epilogue & MM_EPILOGUE_BIAS) {
    if (int rc = need(op, dev, "bias", p.bias, p.bias_offset, p.n, 2, 2)) return rc;
  }
  if (p.epilogue & MM_EPILOGUE_RESIDUAL) {
    const uint64_t e = span(p.stride_r ? p.batch : 1, p.stride_r, p.m, p.ldr, p.n);
    if (int rc = need(op, dev, "residual", p.residual, p.residual_offset, e, 2, 2)) return rc;
  }
  if (r.swiglu && !r.fused_up) {
    if (int rc = need(op, dev, "up_packed", p.up_packed, p.up_packed_offset, w_words, 4, 4)) return rc;
    if (int rc = need(op, dev, "up_scales", p.up_scales, p.up_scales_offset, s_elems, sbytes, sbytes)) return rc;
    if (p.format == MM_FORMAT_INT4) {
      if (int rc = need(op, dev, "up_zeros", p.up_zeros, p.up_zeros_offset, s_elems, 1, 1)) return rc;
    } else if (p.format == MM_FORMAT_INT4_AFFINE) {
      if (int rc = need(op, dev, "up biases (up_zeros)", p.up_zeros, p.up_zeros_offset, s_elems, sbytes, sbytes))
        return rc;
    }
  }
  if (route.workspace_bytes && p.workspace) {
    if (int rc = need(op, dev, "workspace", p.workspace, p.workspace_offset, route.workspace_bytes / 4, 4, 4)) return rc;
  } else if (route.workspace_bytes / 4 > 0xffffffffull) {  // the one allocated per call, indexed in 32 bits too
    return fail(MM_E_LIMIT, "%s: split-K needs %llu partial sums; kernels index with 32 bits (pass split_k = 1)", op,
                (ull)(route.workspace_bytes / 4));
  }
  return check_overlaps(op, r, route);
}

int run(const char* op, mm_device dev, const mm_gemm_params* in, bool batched) {
  Resolved r;
  if (int rc = resolve(op, in, batched, &r)) return rc;
  mm_gemm_route_info route;
  std::memset(&route, 0, sizeof route);
  route.size = sizeof route;
  const GemmShape shape = shape_of(r);
  if (int rc = gemm_route(op, shape, &route)) return rc;
  if (int rc = validate_buffers(op, dev, r, route)) return rc;
  const mm_gemm_params& p = r.p;

  GemmParams gp;
  std::memset(&gp, 0, sizeof gp);
  gp.size = sizeof gp;
  gp.M = p.m;
  gp.N = p.n;
  gp.K = p.k;
  gp.Kw = ceil_div(p.k, 8);
  gp.Np = r.fused_up ? p.n : p.np;
  gp.ldb = p.ldw;
  gp.lda = p.lda;
  gp.ldc = p.ldc;
  gp.ldr = p.ldr;
  gp.batch = p.batch;
  gp.stride_a = p.stride_a;
  gp.stride_w = p.stride_w;
  gp.stride_s = p.stride_s;
  gp.stride_c = p.stride_c;
  gp.stride_r = p.stride_r;
  gp.epilogue = p.epilogue | (p.act_dtype == MM_ACT_BF16 ? GEMM_EPI_BF16 : 0u);
  gp.alpha = p.alpha;
  gp.splits = route.splits;
  gp.k_chunk = route.k_chunk;
  const bool a_vec = p.lda % 4 == 0 && (p.batch == 1 || p.stride_a % 4 == 0) && p.a_offset % 8 == 0;
  const uint32_t defer = gemm_split_defers_group(shape, route.splits);
  gp.flags = (a_vec ? GEMM_FLAG_A_VEC4 : 0u) | (defer ? GEMM_FLAG_DEFER_GROUP : 0u) |
             (defer == 2 ? GEMM_FLAG_SUM_X : 0u);
  gp.format = p.format;
  gp.group_size = p.group_size;
  gp.scale_dtype = p.scale_dtype;
  gp.tensor_scale = p.format == MM_FORMAT_NVFP4 ? p.tensor_scale : 1.0f;
  // A fused gate/up weight is one tensor with one scale; a separate up weight brings its own.
  gp.up_tensor_scale = p.format != MM_FORMAT_NVFP4 ? 1.0f : r.swiglu && !r.fused_up ? p.up_tensor_scale : p.tensor_scale;

  // Unused arguments still need a binding: they get a buffer the kernel provably never reads
  // through them (epilogue bits and format gate every access).
  const bool int4 = p.format == MM_FORMAT_INT4 || p.format == MM_FORMAT_INT4_AFFINE;  // a zeros/biases array
  const uint32_t sbytes = scale_bytes(p.scale_dtype);
  const uint32_t zbytes = p.format == MM_FORMAT_INT4 ? 1 : sbytes;
  const mm_buffer zeros = int4 ? p.zeros : p.scales;
  const uint64_t zeros_off = int4 ? p.zeros_offset : p.scales_offset;
  const bool bias_on = (p.epilogue & MM_EPILOGUE_BIAS) != 0;
  const bool res_on = (p.epilogue & MM_EPILOGUE_RESIDUAL) != 0;
  mm_buffer up_p = p.packed, up_s = p.scales, up_z = zeros;
  uint64_t up_po = p.packed_offset, up_so = p.scales_offset, up_zo = zeros_off;
  if (r.swiglu && !r.fused_up) {
    up_p = p.up_packed, up_s = p.up_scales, up_z = int4 ? p.up_zeros : p.up_scales;
    up_po = p.up_packed_offset, up_so = p.up_scales_offset, up_zo = int4 ? p.up_zeros_offset : p.up_scales_offset;
  } else if (r.fused_up) {
    up_po += uint64_t(p.up_column) * 4;
    up_so += uint64_t(p.up_column) * sbytes;
    up_zo += uint64_t(p.up_column) * (int4 ? zbytes : sbytes);
  }
  const mm_buffer bias = bias_on ? p.bias : p.a;
  const uint64_t bias_off = bias_on ? p.bias_offset : p.a_offset;
  const mm_buffer res = res_on ? p.residual : p.a;
  const uint64_t res_off = res_on ? p.residual_offset : p.a_offset;

  // Split-K partials go to the caller's workspace, or to one allocated (and freed) for this call.
  mm_buffer ws = p.workspace;
  uint64_t ws_off = p.workspace_offset;
  bool own_ws = false;
  if (route.workspace_bytes && ws == 0) {
    if (int rc = mm_buffer_alloc(dev, route.workspace_bytes, &ws)) return rc;
    ws_off = 0;
    own_ws = true;
  }
  const bool split = route.kind == MM_GEMM_KIND_SPLITK;
  const Bind binds[11] = {
      {GEMM_BUF_PACKED, p.packed, p.packed_offset, 0, nullptr, MM_DTYPE_U32},
      {GEMM_BUF_SCALES, p.scales, p.scales_offset, 0, nullptr, MM_DTYPE_ANY},  // raw bytes of MM_SCALE_*
      {GEMM_BUF_ZEROS, zeros, zeros_off, 0, nullptr, MM_DTYPE_ANY},
      {GEMM_BUF_A, p.a, p.a_offset, 0, nullptr, MM_DTYPE_U16},  // f16 or bf16 bits (act_dtype)
      {GEMM_BUF_C, split ? ws : p.c, split ? ws_off : p.c_offset, 0, nullptr, split ? MM_DTYPE_F32 : MM_DTYPE_U16},
      {GEMM_BUF_PARAMS, 0, 0, sizeof gp, &gp, MM_DTYPE_ANY},
      {GEMM_BUF_BIAS, bias, bias_off, 0, nullptr, MM_DTYPE_U16},
      {GEMM_BUF_RESIDUAL, res, res_off, 0, nullptr, MM_DTYPE_U16},
      {GEMM_BUF_UP_PACKED, up_p, up_po, 0, nullptr, MM_DTYPE_U32},
      {GEMM_BUF_UP_SCALES, up_s, up_so, 0, nullptr, MM_DTYPE_ANY},
      {GEMM_BUF_UP_ZEROS, up_z, up_zo, 0, nullptr, MM_DTYPE_ANY},
  };
  int rc = dispatch_builtin(dev, route.kernel, route.grid, route.threadgroup, binds, 11, nullptr);
  if (rc == MM_OK && split) {
    // One output per thread; a deferred per-channel split applies each column's scale in the reduction,
    // so there one thread owns a column (all M rows) and reads its scale (+ zero/bias) once.
    const uint32_t grid[3] = {ceil_div(defer ? p.n : p.m * p.n, GEMM_REDUCE_THREADS), 1, p.batch};
    const uint32_t tg[3] = {GEMM_REDUCE_THREADS, 1, 1};
    const Bind rb[9] = {
        {GEMM_BUF_A, ws, ws_off, 0, nullptr, MM_DTYPE_F32},
        {GEMM_BUF_C, p.c, p.c_offset, 0, nullptr, MM_DTYPE_U16},
        {GEMM_BUF_PARAMS, 0, 0, sizeof gp, &gp, MM_DTYPE_ANY},
        {GEMM_BUF_BIAS, bias, bias_off, 0, nullptr, MM_DTYPE_U16},
        {GEMM_BUF_RESIDUAL, res, res_off, 0, nullptr, MM_DTYPE_U16},
        {GEMM_BUF_SCALES, p.scales, p.scales_offset, 0, nullptr, MM_DTYPE_ANY},
        {GEMM_BUF_ZEROS, zeros, zeros_off, 0, nullptr, MM_DTYPE_ANY},
        {GEMM_BUF_UP_SCALES, up_s, up_so, 0, nullptr, MM_DTYPE_ANY},
        {GEMM_BUF_UP_ZEROS, up_z, up_zo, 0, nullptr, MM_DTYPE_ANY},
    };
    rc = dispatch_builtin(dev, route.reduce_kernel, grid, tg, rb, 9, nullptr);
  }
  if (own_ws) {
    // The temporary must outlive both dispatches: wait before freeing (the cost of passing no workspace).
    const int sync_rc = mm_device_synchronize(dev);
    mm_buffer_free(ws);
    if (rc == MM_OK) rc = sync_rc;
  }
  return rc;
}

}  // namespace
}  // namespace mm::core

using namespace mm::core;

extern "C" {

MM_API int mm_gemm_route(mm_device dev, const mm_gemm_params* p, mm_gemm_route_info* out) {
  static const char* op = "mm_gemm_route";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    if (out->size < sizeof(mm_gemm_route_info))
      return fail(MM_E_INVALID_ARG, "%s: out->size = %u but mm_gemm_route_info is %zu bytes", op, out->size,
                  sizeof(mm_gemm_route_info));
    // The device handle is checked so a route is never answered for a closed device.
    mm_device_info info;
    std::memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (int rc = mm_device_info_get(dev, &info)) return rc;
    Resolved r;
    if (int rc = resolve(op, p, true, &r)) return rc;
    const uint32_t size = out->size;
    std::memset(out, 0, sizeof(mm_gemm_route_info));
    out->size = size;
    return gemm_route(op, shape_of(r), out);
  });
}

MM_API int mm_gemm(mm_device dev, const mm_gemm_params* p) {
  static const char* op = "mm_gemm";
  return guarded(op, [&] { return run(op, dev, p, false); });
}

MM_API int mm_batched_gemm(mm_device dev, const mm_gemm_params* p) {
  static const char* op = "mm_batched_gemm";
  return guarded(op, [&] { return run(op, dev, p, true); });
}

}  // extern "C"
