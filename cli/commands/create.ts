/**
 * `soci create IMAGE` (formats §7, §11.2): builds a SOCI index **v1** per
 * platform for an image and records the zTOCs and the index (with its
 * `subject`) in the local store, for `soci index`/`ztoc` and registry pushes.
 * IMAGE is an OCI image layout (directory or tar). Prints the per-layer lines,
 * then one index digest per platform (only those with --quiet).
 */
import type { CommandSpec } from "../command.ts";
import { runCreate } from "./_build.ts";
import { BUILD_OPTIONS, parseBuildFlags } from "./convert.ts";

export const createCommand: CommandSpec = {
  name: "create",
  args: "<image>",
  description: "Create SOCI index v1 artifacts for an image in the local store",
  options: BUILD_OPTIONS,
  examples: ["soci create ./image-layout", "soci create --min-layer-size 0 --all-platforms ./image.tar"],
  async run(ctx, args, flags) {
    const [image] = args as string[];
    await runCreate(ctx, { image, build: await parseBuildFlags(ctx, flags) });
  },
};
