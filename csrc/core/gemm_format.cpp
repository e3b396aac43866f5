// gemm_format.cpp — what each weight format's definition allows (scale storage, group size, tensor
// scale). The kernels take format, group size and scale storage as data, so whatever passes here runs
// on the one kernel of each family; nothing here picks a kernel (that is gemm_routing.cpp).
#include "gemm_routing.h"
#include "internal.h"

namespace mm::core {

// Bytes per stored scale (and int4-affine bias) element.
uint32_t scale_bytes(uint32_t scale_dtype) { return scale_dtype <= MM_SCALE_BF16 ? 2 : 1; }

// Format, scale storage, activation dtype, group size and nvfp4 tensor scales of `p`.
int check_format(const char* op, const mm_gemm_params& p) {
  if (p.format > MM_FORMAT_NVFP4)
    return fail(MM_E_INVALID_ARG, "%s: unknown format %u (MM_FORMAT_FP4 0, INT4 1, INT4_SYM 2, INT4_AFFINE 3, "
                "MXFP4 4, NVFP4 5)", op, p.format);
  const uint32_t want_scale = p.format == MM_FORMAT_MXFP4 ? MM_SCALE_E8M0 : MM_SCALE_E4M3;
  if (p.format >= MM_FORMAT_MXFP4 ? p.scale_dtype != want_scale : p.scale_dtype > MM_SCALE_BF16)
    return fail(MM_E_INVALID_ARG, "%s: format %u cannot have scale_dtype %u (MM_SCALE_F16 0 or BF16 1 for formats "
                "0..3, E8M0 2 for MXFP4, E4M3 3 for NVFP4)", op, p.format, p.scale_dtype);
  if (p.act_dtype > MM_ACT_BF16)
    return fail(MM_E_INVALID_ARG, "%s: act_dtype = %u (MM_ACT_F16 0, MM_ACT_BF16 1)", op, p.act_dtype);
  if (p.group_size == 0 || p.group_size % 8)
    return fail(MM_E_INVALID_ARG, "%s: group_size = %u must be a positive multiple of 8", op, p.group_size);
  const uint32_t fixed = p.format == MM_FORMAT_MXFP4 ? 32 : p.format == MM_FORMAT_NVFP4 ? 16 : 0;
  if (fixed && p.group_size != fixed)
    return fail(MM_E_INVALID_ARG, "%s: format %u has group size %u by definition, got %u", op, p.format, fixed,
                p.group_size);
  if (p.format == MM_FORMAT_NVFP4 &&
      !(p.tensor_scale - p.tensor_scale == 0.0f && p.up_tensor_scale - p.up_tensor_scale == 0.0f))
    return fail(MM_E_INVALID_ARG, "%s: NVFP4 tensor_scale = %g and up_tensor_scale = %g must be finite", op,
                p.tensor_scale, p.up_tensor_scale);
  return MM_OK;
}

}  // namespace mm::core
