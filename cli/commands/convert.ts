/**
 * `soci convert SRC DST` (formats §8, §11.2): builds a SOCI index v2 per
 * platform from an OCI image layout (directory or tar) and writes a
 * SOCI-enabled copy of the image to DST; no containerd is involved (upstream's
 * `--standalone` mode is the only mode, so that flag is accepted and ignored).
 * zTOCs and indexes are also recorded in the local store, for `index`/`ztoc`.
 *
 * Prints the per-layer lines of formats §11.2, then the converted image's
 * index digest; `--quiet` prints only that digest; `--json` one document.
 *
 * Also owns the build flags shared with `create`, including the prefetch
 * paths of formats §9.6 (`--prefetch-file`, repeatable, never split on
 * commas since paths may hold them; `--prefetch-files-json FILE`, read and
 * checked before anything is opened or written).
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { InvalidArgumentError, NotFoundError, UsageError } from "../../core-wasm/src/errors.ts";
import { parsePrefetchFilesJson } from "../../core-wasm/src/soci/mod.ts";
import { boolFlag, choiceFlag, intFlag, listFlag, stringFlag, type CommandSpec, type Context, type Flags, type OptionSpec } from "../command.ts";
import { BUILD_TOOL_IDENTIFIER } from "../version.ts";
import { runConvert } from "./_build.ts";

export const DEFAULT_SPAN_SIZE = 4194304;
export const DEFAULT_MIN_LAYER_SIZE = 10485760;
export const OPTIMIZATIONS = ["xattr"] as const;
export const FORMATS = ["oci-archive", "oci-dir"] as const;

/** Flags shared by `create` and `convert` (formats §9.1, §11.2). */
export const BUILD_OPTIONS: OptionSpec[] = [
  { flags: "--span-size <bytes>", description: "Span size of the zTOCs", defaultText: String(DEFAULT_SPAN_SIZE) },
  { flags: "--min-layer-size <bytes>", description: "Skip layers whose compressed size is smaller", defaultText: String(DEFAULT_MIN_LAYER_SIZE) },
  { flags: "--optimizations <list>", description: "Optimizations to apply (comma separated): xattr" },
  { flags: "-p, --platform <platform>", description: "Platform to index, e.g. linux/arm64 (repeatable, comma separated)", defaultText: "the image's, or the host's for an index" },
  { flags: "--all-platforms", description: "Index every platform of the image" },
  { flags: "--build-tool-identifier <id>", description: "Build tool written into zTOCs and indexes", defaultText: BUILD_TOOL_IDENTIFIER },
  { flags: "--jobs <n>", description: "Layers indexed in parallel", defaultText: "logical CPUs" },
  { flags: "-f, --force", description: "Rebuild zTOCs even if the store has them" },
  { flags: "--prefetch-file <path>", description: "(Experimental) A file in the image whose spans a snapshotter fetches before the layer is ready (repeatable)" },
  { flags: "--prefetch-files-json <file>", description: '(Experimental) A JSON file holding an array of such paths, e.g. ["/app/main.py", "/usr/bin/python3"]' },
];

/** The checked build options, as the core wants them. */
export interface BuildFlags {
  spanSize: number;
  minLayerSize: number;
  optimizations: string[];
  platforms: string[];
  allPlatforms: boolean;
  buildToolIdentifier: string;
  jobs: number;
  force: boolean;
  /** `--prefetch-file` values, then the paths of `--prefetch-files-json`, as given. */
  prefetchPaths: string[];
}

/** The values of a repeatable flag that takes paths: as given, trimmed, empty ones dropped (no comma splitting). */
function pathFlag(flags: Flags, key: string, flag: string): string[] {
  const v = flags[key];
  if (v === undefined) return [];
  const out: string[] = [];
  for (const r of Array.isArray(v) ? v : [v]) {
    if (typeof r === "boolean") throw new UsageError(`Cannot use ${flag}: a value is required`);
    const t = String(r).trim();
    if (t !== "") out.push(t);
  }
  return out;
}

/**
 * The prefetch paths (formats §9.6). The `--prefetch-files-json` file is read
 * here: a missing, unreadable or malformed file is an error naming it.
 */
async function prefetchPaths(ctx: Context, flags: Flags): Promise<string[]> {
  const paths = pathFlag(flags, "prefetchFile", "--prefetch-file");
  const files = pathFlag(flags, "prefetchFilesJson", "--prefetch-files-json");
  if (files.length > 1) throw new UsageError("Cannot use --prefetch-files-json more than once", { hint: "Put all paths into one JSON array" });
  if (files.length === 1) {
    const file = resolve(ctx.cwd, files[0]);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const hint = 'Pass a JSON file holding an array of paths, e.g. ["/app/main.py"]';
      if (code === "ENOENT") throw new NotFoundError(`Cannot read prefetch file list ${file}: no such file`, { hint });
      throw new InvalidArgumentError(`Cannot read prefetch file list ${file}: ${(e as Error).message}`, { hint, cause: e });
    }
    paths.push(...parsePrefetchFilesJson(text, file));
  }
  return paths;
}

/** The checked build options (async: `--prefetch-files-json` is read). */
export async function parseBuildFlags(ctx: Context, flags: Flags): Promise<BuildFlags> {
  const optimizations = listFlag(flags, "optimizations", "--optimizations");
  for (const o of optimizations) {
    if (!(OPTIMIZATIONS as readonly string[]).includes(o)) {
      throw new UsageError(`Cannot use --optimizations ${JSON.stringify(o)}: expected one of ${OPTIMIZATIONS.join(", ")}`);
    }
  }
  const platforms = listFlag(flags, "platform", "--platform");
  const allPlatforms = boolFlag(flags, "allPlatforms");
  if (allPlatforms && platforms.length > 0) {
    throw new UsageError("Cannot use --all-platforms and --platform together", { hint: "Pass one of them" });
  }
  const id = stringFlag(flags, "buildToolIdentifier", "--build-tool-identifier", BUILD_TOOL_IDENTIFIER)!;
  return {
    spanSize: intFlag(flags, "spanSize", "--span-size", DEFAULT_SPAN_SIZE, 0),
    minLayerSize: intFlag(flags, "minLayerSize", "--min-layer-size", DEFAULT_MIN_LAYER_SIZE, 0),
    optimizations: [...new Set(optimizations)],
    platforms,
    allPlatforms,
    buildToolIdentifier: id,
    jobs: intFlag(flags, "jobs", "--jobs", ctx.cpus, 1),
    force: boolFlag(flags, "force"),
    prefetchPaths: await prefetchPaths(ctx, flags),
  };
}

export const convertCommand: CommandSpec = {
  name: "convert",
  args: "<src> <dst>",
  description: "Convert an image (registry reference, OCI layout or archive) into a SOCI-enabled image (SOCI index v2)",
  options: [
    ...BUILD_OPTIONS,
    { flags: "--format <format>", description: "Output format of a DST path: oci-archive (a tar) or oci-dir; a registry DST is pushed", defaultText: "oci-archive" },
    { flags: "--standalone", description: "Accepted for upstream compatibility; conversion never needs containerd" },
  ],
  examples: [
    "soci convert ./image-layout ./image-soci.tar",
    "soci convert registry.example/app:1 registry.example/app:1-soci",
    "soci convert --format oci-dir --min-layer-size 0 -p linux/amd64,linux/arm64 ./in ./out",
    "soci convert --prefetch-file /app/main.py --prefetch-file /usr/bin/python3 ./in registry.example/app:1-soci",
  ],
  async run(ctx, args, flags) {
    const [src, dst] = args as string[];
    const build = await parseBuildFlags(ctx, flags);
    const format = choiceFlag(flags, "format", "--format", FORMATS, "oci-archive");
    await runConvert(ctx, { src, dst, format, build });
  },
};
