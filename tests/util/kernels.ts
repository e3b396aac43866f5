// Loading .metal files of the checkout in tests: compile by path (the bare file name is kept so
// messages name its lines) and find the line of a marker comment.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Device, Library } from "../../mod.ts";

const root = new URL("../../", import.meta.url);

/** Text of a checkout-relative file. */
export function source(path: string): string {
  return readFileSync(new URL(path, root), "utf8");
}

/** Compiles a checkout-relative .metal file on `dev` (cached by source hash). */
export function load(dev: Device, path: string): Library {
  return dev.compile(source(path), { name: path.split("/").pop() });
}

/** 1-based line of the first line of `path` containing `marker`. */
export function lineOf(path: string, marker: string): number {
  const i = source(path).split("\n").findIndex((l) => l.includes(marker));
  assert.ok(i >= 0, `${marker} not found in ${path}`);
  return i + 1;
}
