/**
 * `soci index rm DIGEST…` / `remove` (formats §11.2): removes SOCI indexes
 * from the local store (record and blob), or every index of an image with
 * `--ref` (mutually exclusive with digests). zTOC records and blobs stay (as
 * upstream; they are reused by later builds); the prefetch artifact records
 * of the removed indexes go, so `soci prefetch list` no longer shows them
 * (their blobs stay, like zTOC blobs). Prints each removed digest; `--json`
 * an array of them.
 */
import { UsageError } from "../../core-wasm/src/errors.ts";
import { digestArg, stringFlag, type CommandSpec } from "../command.ts";
import { removeIndexes } from "./_store.ts";

export const indexRemoveCommand: CommandSpec = {
  name: "index rm",
  aliases: ["index remove"],
  args: "[...digests]",
  description: "Remove SOCI indexes from the local store",
  options: [{ flags: "--ref <image>", description: "Remove every index built for this image (instead of digests)" }],
  async run(ctx, args, flags) {
    const digests = (args[0] as string[]).map((d) => digestArg(d, "digest"));
    const ref = stringFlag(flags, "ref", "--ref");
    if (ref !== undefined && digests.length > 0) {
      throw new UsageError("Cannot use --ref together with digests", { hint: "Pass either digests or --ref IMAGE" });
    }
    if (ref === undefined && digests.length === 0) {
      throw new UsageError('Cannot run "index rm": no digest given', { hint: "Pass one or more index digests, or --ref IMAGE" });
    }
    const removed = await removeIndexes(ctx, ref !== undefined ? { ref } : { digests });
    if (ctx.out.json) return ctx.out.printJson(removed);
    for (const d of removed) ctx.out.line(d);
  },
};
