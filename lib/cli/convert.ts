// `metal-marlin convert <in> <out.safetensors>`: any checkpoint openCheckpoint reads -> our format, with
// a progress bar on a terminal for anything that takes over a second.
import { parseArgs } from "node:util";
import { convertCheckpoint } from "../io/convert.ts";
import { Progress } from "./progress.ts";

const HELP =
  `usage: metal-marlin convert <file.safetensors|file.gguf|model-dir> <out.safetensors> [--skip-inexact]
  writes our format (safetensors + metadata; reloads with openCheckpoint, uploads without repacking)
  --skip-inexact  leave out tensors that cannot be imported exactly instead of failing`;

/** Runs `convert`; returns the exit code. */
export async function convertCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "skip-inexact": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help || positionals.length !== 2 || !positionals[1].endsWith(".safetensors")) {
    (values.help ? console.log : console.error)(HELP);
    return values.help ? 0 : 2;
  }
  const [input, output] = positionals;
  const bar = new Progress("convert");
  const t0 = performance.now();
  try {
    const r = await convertCheckpoint(input, output, {
      skipInexact: values["skip-inexact"],
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.done();
    const s = (performance.now() - t0) / 1000;
    for (const k of r.skipped) console.error(`skipped ${k.name}: ${k.reason}`);
    console.log(
      `${output}: ${r.quantized.length} quantized, ${r.copied.length} copied, ${r.skipped.length} skipped; ` +
        `${(r.sourceBytes / 1e6).toFixed(1)} MB read, ${(r.outputBytes / 1e6).toFixed(1)} MB written in ${
          s.toFixed(2)
        } s`,
    );
    return 0;
  } catch (e) {
    bar.done();
    throw e;
  }
}
