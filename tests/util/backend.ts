// The backend the suite runs on: MM_TEST_BACKEND=metal-sim runs every test that opens a device for
// ordinary work (gemm, user kernels, tensors, uploads, io, fuzz, scope) on the Metal backend over the
// simulated driver (npm run test:metal-sim); unset = the CPU runtime. Tests of CPU-runtime features
// (trace, race, instrument, worker threads, the runtime's own diagnostics) open backend "cpu" by name.
import process from "node:process";
import { Device, type DeviceOptions } from "../../lib/api/device.ts";

/** "cpu" (default) or "metal-sim", from MM_TEST_BACKEND; anything else throws. */
export function testBackend(): "cpu" | "metal-sim" | "metal" {
  const b = process.env.MM_TEST_BACKEND ?? "";
  if (b === "" || b === "cpu") return "cpu";
  if (b === "metal-sim" || b === "metal") return b;
  throw new Error(`MM_TEST_BACKEND must be "cpu", "metal-sim" or "metal" (macOS workflow), got "${b}"`);
}

/**
 * Opens a device on the suite's backend (testBackend()). `threads` reaches only the CPU runtime; on
 * metal-sim the simulated driver's MM_SIM_THREADS applies.
 */
export function openTestDevice(opts: Omit<DeviceOptions, "backend" | "instrument"> = {}): Device {
  return Device.open({ ...opts, backend: testBackend() });
}
