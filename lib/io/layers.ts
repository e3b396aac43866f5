// Recognising quantized layers among safetensors tensors, and loading one through its importer.
//   ours  __metadata__.format = "metal-marlin": NAME.packed / .scales / .zeros / .biases
//   GPTQ  PREFIX.qweight [K/8, N] + .qzeros + .scales [G, N] (+ .g_idx)
//   AWQ   PREFIX.qweight [K, N/8] + .qzeros + .scales [G, N]      (told apart from GPTQ by shape)
//   MLX   PREFIX.weight U32 + .scales + .biases
import { checkQuantized } from "../quant/validate.ts";
import type { QuantizedMatrix } from "../quant/types.ts";
import { formatAvailable, type ImportedMatrix, scaleDtypeAvailable } from "./contract.ts";
import { CheckpointError, InexactImportError } from "./errors.ts";
import { importAwq } from "./import_awq.ts";
import { importGptq, type RawTensor } from "./import_gptq.ts";
import { importMlx, mlxRefusal } from "./import_mlx.ts";
import { MARLIN_FORMAT, MARLIN_TENSORS_KEY, type MarlinTensorMeta } from "./save.ts";
import type { SafetensorsFile } from "./safetensors.ts";
import { halvesOf, wordsOf } from "./dtypes.ts";

/** Quantization settings from config.json / quantize_config.json. */
export interface QuantConfig {
  method: string | undefined;
  groupSize: number | undefined;
  bits: number | undefined;
  checkpointFormat: string | undefined;
}

/** One quantized layer found among the tensors. */
export interface Layer {
  /** Exposed name (PREFIX.weight, or NAME for our format). */
  readonly name: string;
  readonly kind: "gptq" | "awq" | "mlx" | "marlin";
  readonly source: string;
  /** Logical [batch?, N, K]. */
  readonly shape: number[];
  readonly groupSize: number | undefined;
  readonly scaleDtype: string;
  readonly bytes: number;
  /** Part name -> tensor name. */
  readonly parts: Readonly<Record<string, string>>;
  readonly files: ReadonlyMap<string, SafetensorsFile>;
  readonly cfg: QuantConfig;
  readonly meta?: MarlinTensorMeta;
}

// One reusable read slot per part, so the parts of one layer never share a buffer (importers copy out).
const SLOTS: Record<string, number> = {
  qweight: 0,
  weight: 0,
  packed: 0,
  qzeros: 1,
  zeros: 1,
  scales: 2,
  biases: 3,
  g_idx: 4,
};

function raw(l: Layer, part: string): RawTensor {
  const name = l.parts[part];
  const f = l.files.get(name)!;
  const e = f.entries.get(name)!;
  let bytes: Uint8Array | undefined; // read on first use: a check-only import never reads qweight
  return {
    name,
    dtype: e.dtype,
    shape: e.shape,
    get bytes(): Uint8Array {
      return bytes ??= f.bytes(name, SLOTS[part]);
    },
  };
}

function shapeOf(files: ReadonlyMap<string, SafetensorsFile>, name: string): readonly number[] {
  return files.get(name)!.entries.get(name)!.shape;
}

/** Finds quantized layers; `consumed` holds every tensor name that is a part of one. */
export function detectLayers(
  files: SafetensorsFile[],
  where: ReadonlyMap<string, SafetensorsFile>,
  cfg: QuantConfig,
): { layers: Layer[]; consumed: Set<string> } {
  const layers: Layer[] = [];
  const consumed = new Set<string>();
  const entry = (n: string) => where.get(n)?.entries.get(n);
  const bytesOf = (parts: Record<string, string>) =>
    Object.values(parts).reduce((a, n) => a + entry(n)!.length, 0);
  const ours = files.find((f) => f.metadata.format === MARLIN_FORMAT);
  if (ours !== undefined) {
    let metas: Record<string, MarlinTensorMeta>;
    try {
      metas = JSON.parse(ours.metadata[MARLIN_TENSORS_KEY] ?? "{}");
    } catch (e) {
      throw new CheckpointError(
        "openCheckpoint",
        { file: ours.source.path, offset: 8 },
        `bad ${MARLIN_TENSORS_KEY}: ${(e as Error).message}`,
      );
    }
    for (const [name, m] of Object.entries(metas)) {
      const parts: Record<string, string> = {};
      for (const p of ["packed", "scales", "zeros", "biases"]) {
        if (where.has(`${name}.${p}`)) parts[p] = `${name}.${p}`;
      }
      if (parts.packed === undefined || parts.scales === undefined) {
        throw new CheckpointError(
          "openCheckpoint",
          { file: ours.source.path, tensor: name },
          "metadata lists it but .packed or .scales is missing",
        );
      }
      for (const n of Object.values(parts)) consumed.add(n);
      const shape = m.batch === null ? [m.n, m.k] : [m.batch, m.n, m.k];
      layers.push({
        name,
        kind: "marlin",
        source: `${MARLIN_FORMAT}:${m.format}`,
        shape,
        groupSize: m.groupSize,
        scaleDtype: m.scaleDtype,
        bytes: bytesOf(parts),
        parts,
        files: where,
        cfg,
        meta: m,
      });
    }
  }
  for (const name of where.keys()) {
    if (consumed.has(name)) continue;
    if (name.endsWith(".qweight")) {
      const prefix = name.slice(0, -8);
      const parts: Record<string, string> = { qweight: name };
      for (const p of ["qzeros", "scales", "g_idx"]) {
        if (where.has(`${prefix}.${p}`)) parts[p] = `${prefix}.${p}`;
      }
      if (parts.qzeros === undefined || parts.scales === undefined) continue; // not a layer we know
      const qs = shapeOf(where, name), ss = shapeOf(where, parts.scales);
      // GPTQ: qweight [K/8, N] and scales [G, N] share N; AWQ: qweight [K, N/8].
      const awq = cfg.method === "awq" || (cfg.method !== "gptq" && qs[1] !== ss[1]);
      const k = awq ? qs[0] : qs[0] * 8, n = ss[1];
      const v2 = cfg.checkpointFormat === "gptq_v2";
      for (const n of Object.values(parts)) consumed.add(n);
      layers.push({
        name: `${prefix}.weight`,
        kind: awq ? "awq" : "gptq",
        source: awq ? "awq" : v2 ? "gptq_v2" : "gptq",
        shape: [n, k],
        groupSize: cfg.groupSize === -1
          ? k
          : cfg.groupSize ?? (ss[0] > 0 ? Math.ceil(k / ss[0] / 8) * 8 : undefined),
        scaleDtype: entry(parts.scales)!.dtype,
        bytes: bytesOf(parts),
        parts,
        files: where,
        cfg,
      });
    }
  }
  for (const name of where.keys()) {
    if (consumed.has(name) || !name.endsWith(".scales")) continue;
    const prefix = name.slice(0, -7);
    const w = `${prefix}.weight`, b = `${prefix}.biases`;
    if (!where.has(w) || !where.has(b) || entry(w)!.dtype !== "U32" || consumed.has(w)) continue;
    const parts = { weight: w, scales: name, biases: b };
    for (const n of Object.values(parts)) consumed.add(n);
    const ws = shapeOf(where, w), ss = shapeOf(where, name);
    const k = ws[ws.length - 1] * 8;
    layers.push({
      name: w,
      kind: "mlx",
      source: `mlx:affine${cfg.bits ?? 4}`,
      shape: [...ws.slice(0, -1), k],
      groupSize: cfg.groupSize ?? (ss[ss.length - 1] > 0 ? k / ss[ss.length - 1] : undefined),
      scaleDtype: entry(name)!.dtype,
      bytes: bytesOf(parts),
      parts,
      files: where,
      cfg,
    });
  }
  return { layers, consumed };
}

/** Why a layer cannot be imported, judged from its structure and the config; undefined when it can. */
export function layerRefusal(l: Layer): string | undefined {
  const bits = l.cfg.bits;
  switch (l.kind) {
    case "mlx":
      return mlxRefusal(l.scaleDtype, bits);
    case "gptq":
    case "awq":
      if (bits !== undefined && bits !== 4) return `${bits}-bit ${l.kind.toUpperCase()} is not 4-bit`;
      if (l.scaleDtype !== "F16") return `scales are ${l.scaleDtype}, not F16`;
      if (l.kind === "gptq") {
        // g_idx and qzeros are small: check them now (act-order, v1 zero nibble 15) so info() is exact.
        try {
          gptqImport(l, true);
        } catch (e) {
          if (e instanceof InexactImportError) return e.message.replace(/^quantized: /, "");
          throw e;
        }
      }
      return undefined;
    case "marlin": {
      const m = l.meta!;
      if (!formatAvailable(m.format as never)) return `format ${m.format} is not available in lib/quant yet`;
      if (!scaleDtypeAvailable(m.scaleDtype as never)) return `${m.scaleDtype} scales are not available yet`;
      return undefined;
    }
  }
}

function gptqImport(l: Layer, checkOnly: boolean): ImportedMatrix {
  const file = l.files.get(l.parts.qweight)!.source.path;
  if (l.cfg.bits !== undefined && l.cfg.bits !== 4) {
    throw new InexactImportError("quantized", file, l.name, `${l.cfg.bits}-bit GPTQ is not 4-bit`);
  }
  return importGptq(
    file,
    l.name,
    raw(l, "qweight"),
    raw(l, "qzeros"),
    raw(l, "scales"),
    l.parts.g_idx === undefined ? undefined : raw(l, "g_idx"),
    { groupSize: l.cfg.groupSize, checkpointFormat: l.source === "gptq_v2" ? "gptq_v2" : "gptq", checkOnly },
  );
}

/** Imports one layer exactly (InexactImportError when it cannot). */
export function loadLayer(l: Layer): ImportedMatrix {
  if (l.kind === "gptq") return gptqImport(l, false); // its own checks name the tensor at fault
  const file = l.files.get(Object.values(l.parts)[0])!.source.path;
  const why = layerRefusal(l);
  if (why !== undefined) throw new InexactImportError("quantized", file, l.name, why);
  const gs = l.cfg.groupSize;
  switch (l.kind) {
    case "awq":
      return importAwq(file, l.name, raw(l, "qweight"), raw(l, "qzeros"), raw(l, "scales"), gs);
    case "mlx":
      return importMlx(file, l.name, raw(l, "weight"), raw(l, "scales"), raw(l, "biases"), {
        groupSize: gs,
        bits: l.cfg.bits,
      });
    case "marlin":
      return loadMarlin(file, l);
  }
}

function loadMarlin(file: string, l: Layer): ImportedMatrix {
  const m = l.meta!;
  const p = raw(l, "packed"), s = raw(l, "scales");
  const z = l.parts.zeros === undefined ? undefined : raw(l, "zeros");
  const b = l.parts.biases === undefined ? undefined : raw(l, "biases");
  const halves = (t: RawTensor) => {
    const h = halvesOf(t.bytes).slice();
    return t.dtype === "F16" ? new Float16Array(h.buffer) : h;
  };
  const scales = s.dtype === "F16" || s.dtype === "BF16" ? halves(s) : s.bytes.slice();
  const out: ImportedMatrix = {
    format: m.format as ImportedMatrix["format"],
    k: m.k,
    n: m.n,
    kp: m.kp,
    np: m.np,
    groupSize: m.groupSize,
    batch: m.batch ?? undefined,
    layout: "nk",
    packed: wordsOf(p.bytes),
    scaleDtype: m.scaleDtype as ImportedMatrix["scaleDtype"],
    scales,
    zeros: z?.bytes.slice(),
    ...(b === undefined ? {} : { biases: halves(b) }),
    ...(m.tensorScale === undefined ? {} : { tensorScale: m.tensorScale }),
  };
  if (m.layout !== "nk" && m.layout !== "kn") {
    throw new CheckpointError(
      "quantized",
      { file, tensor: l.name },
      `layout ${JSON.stringify(m.layout)} is not "nk" or "kn"`,
    );
  }
  const q = { ...out, layout: m.layout } as unknown as QuantizedMatrix;
  try {
    checkQuantized("quantized", q);
  } catch (e) {
    throw new CheckpointError(
      "quantized",
      { file, tensor: l.name },
      `stored parts disagree with the metadata: ${(e as Error).message}`,
    );
  }
  return q as unknown as ImportedMatrix;
}
