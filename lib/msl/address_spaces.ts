// The MSL address spaces in one table: the keywords every MSL tool recognises, and which of them the
// shim turns into real clang address spaces for the syntax-only pass (csrc/cpu/shim/mm_shim.h under
// -DMM_ADDRESS_SPACES), so the pass can tell its diagnostics about them apart.

/** The address spaces a parameter or variable of a kernel can be in. */
export type AddressSpace = "device" | "constant" | "threadgroup" | "thread";

/** MSL address-space keywords (also the ones the lint requires on pointers). */
export const SPACES: ReadonlySet<string> = new Set([
  "device",
  "constant",
  "threadgroup",
  "thread",
  "threadgroup_imageblock",
  "ray_data",
  "object_data",
]);

/** clang `address_space(N)` of each space the shim maps under -DMM_ADDRESS_SPACES (mm_shim.h). */
export const CLANG_ADDRESS_SPACES: Readonly<Record<"device" | "constant" | "threadgroup", number>> = {
  device: 1,
  constant: 2,
  threadgroup: 3,
};
