/**
 * `soci index info DIGEST` (formats §11.2): the stored SOCI index JSON,
 * indented two spaces with keys in stored order. A zTOC digest is refused.
 * `--json` prints the same document (it is JSON already).
 */
import { digestArg, type CommandSpec } from "../command.ts";
import { readIndexDocument } from "./_store.ts";

export const indexInfoCommand: CommandSpec = {
  name: "index info",
  args: "<digest>",
  description: "Show a SOCI index from the local store",
  async run(ctx, args) {
    const digest = digestArg(args[0] as string, "digest");
    const doc = await readIndexDocument(ctx, digest);
    ctx.out.printJson(doc);
  },
};
