// The backend the suite runs on: MM_TEST_BACKEND=metal-sim runs the device-level tests on the Metal
// backend over the simulated driver (scripts/test.sh --metal-sim); unset = the CPU runtime.
import process from "node:process";

/** "cpu" (default) or "metal-sim", from MM_TEST_BACKEND; anything else throws. */
export function testBackend(): "cpu" | "metal-sim" | "metal" {
  const b = process.env.MM_TEST_BACKEND ?? "";
  if (b === "" || b === "cpu") return "cpu";
  if (b === "metal-sim" || b === "metal") return b;
  throw new Error(`MM_TEST_BACKEND must be "cpu", "metal-sim" or "metal" (macOS workflow), got "${b}"`);
}
