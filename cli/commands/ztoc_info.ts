/**
 * `soci ztoc info DIGEST` (formats §11.2): a JSON summary of a stored zTOC
 * with upstream's keys and order — `version`, `build_tool`, `size`,
 * `span_size`, `num_spans`, `num_files`, `num_multi_span_files`, `files`
 * (`filename, offset, size, type, start_span, end_span`, in offset order).
 * An index digest is refused.
 */
import { digestArg, type CommandSpec } from "../command.ts";
import { ztocInfo } from "./_store.ts";

export const ztocInfoCommand: CommandSpec = {
  name: "ztoc info",
  args: "<digest>",
  description: "Show a zTOC from the local store",
  async run(ctx, args) {
    const digest = digestArg(args[0] as string, "digest");
    ctx.out.printJson(await ztocInfo(ctx, digest));
  },
};
