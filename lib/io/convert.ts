// convertCheckpoint(): any checkpoint openCheckpoint reads -> our format, one tensor at a time (the
// writer streams, so memory holds one tensor's source and result, never the model).
import { basename } from "node:path";
import { CONFIG_KEY, openCheckpoint } from "./checkpoint.ts";
import { InexactImportError } from "./errors.ts";
import { headerBound, SafetensorsWriter } from "./save.ts";
import { SAFETENSORS_DTYPES } from "./dtypes.ts";

/** Options of convertCheckpoint(). */
export interface ConvertOptions {
  /** Leave out tensors that cannot be imported exactly instead of failing. Default false. */
  skipInexact?: boolean;
  /** Called after each tensor with source bytes done and in total. */
  onProgress?: (done: number, total: number, name: string) => void;
  /** Use Bun.mmap when available. Default true. */
  mmap?: boolean;
}

/** What convertCheckpoint() did. */
export interface ConvertResult {
  /** Tensors written as quantized matrices. */
  quantized: string[];
  /** Tensors copied as they are (float and integer storage). */
  copied: string[];
  /** Tensors left out with the reason (skipInexact only). */
  skipped: { name: string; reason: string }[];
  /** Source bytes read. */
  sourceBytes: number;
  /** Bytes of tensor data written. */
  outputBytes: number;
}

/**
 * The source config worth carrying: config.json as it is; of GGUF metadata the scalars (arrays such as
 * the tokenizer's are left out, their length kept as ARCH.vocab_size when the file has no such key).
 */
function carriedConfig(
  cfg: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> | undefined {
  if (cfg === undefined) return undefined;
  const arch = cfg["general.architecture"];
  if (typeof arch !== "string") return { ...cfg };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) {
    if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") out[k] = v;
  }
  const tokens = cfg["tokenizer.ggml.tokens"];
  if (out[`${arch}.vocab_size`] === undefined && Array.isArray(tokens)) {
    out[`${arch}.vocab_size`] = tokens.length;
  }
  return out;
}

/**
 * Converts checkpoint `input` (file or directory) to our format at `output` (.safetensors): quantized
 * tensors that import exactly are stored in our layout, plain tensors as they are. A tensor that cannot be
 * imported exactly fails the conversion (InexactImportError) unless `skipInexact` is set.
 */
export async function convertCheckpoint(
  input: string,
  output: string,
  opts: ConvertOptions = {},
): Promise<ConvertResult> {
  const ck = await openCheckpoint(input, { mmap: opts.mmap });
  const res: ConvertResult = { quantized: [], copied: [], skipped: [], sourceBytes: 0, outputBytes: 0 };
  const meta: Record<string, string> = { "metal-marlin.converted-from": basename(input) };
  const cfg = carriedConfig(ck.config);
  if (cfg !== undefined) meta[CONFIG_KEY] = JSON.stringify(cfg);
  try {
    const names = ck.names();
    const infos = names.map((n) => ck.info(n));
    const total = infos.reduce((a, i) => a + i.bytes, 0);
    const w = new SafetensorsWriter(output, headerBound(names, meta));
    try {
      for (const info of infos) {
        const name = info.name;
        let reason: string | undefined;
        if (info.quantized) {
          try {
            w.addQuantized(name, ck.quantized(name));
            res.quantized.push(name);
          } catch (e) {
            if (!(e instanceof InexactImportError) || !opts.skipInexact) throw e;
            reason = e.message;
          }
        } else if (Object.hasOwn(SAFETENSORS_DTYPES, info.dtype)) {
          w.addRaw(name, ck.raw(name));
          res.copied.push(name);
        } else {
          reason = `${info.dtype} storage has no safetensors dtype`;
          if (!opts.skipInexact) throw new InexactImportError("convert", input, name, reason);
        }
        if (reason !== undefined) res.skipped.push({ name, reason });
        res.sourceBytes += info.bytes;
        opts.onProgress?.(res.sourceBytes, total, name);
      }
      res.outputBytes = w.dataBytes;
    } catch (e) {
      w.close();
      throw e;
    }
    w.finish(meta);
  } finally {
    ck.close();
  }
  return res;
}
