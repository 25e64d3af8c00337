/**
 * `soci ztoc list` / `ls` (formats §11.2): the zTOCs recorded in the local
 * store as `DIGEST SIZE LAYER DIGEST`; `--quiet` digests only, `--json` an
 * array of records.
 */
import { stringFlag, type CommandSpec } from "../command.ts";
import { listZtocs } from "./_store.ts";

export const ztocListCommand: CommandSpec = {
  name: "ztoc list",
  aliases: ["ztoc ls"],
  description: "List the zTOCs in the local store",
  options: [
    { flags: "--ztoc-digest <digest>", description: "Only this zTOC" },
    { flags: "--image-ref <image>", description: "Only zTOCs of this image's indexes" },
  ],
  async run(ctx, _args, flags) {
    const ztocDigest = stringFlag(flags, "ztocDigest", "--ztoc-digest");
    const imageRef = stringFlag(flags, "imageRef", "--image-ref");
    const rows = await listZtocs(ctx, {
      ...(ztocDigest !== undefined ? { ztocDigest } : {}),
      ...(imageRef !== undefined ? { imageRef } : {}),
    });
    const { out } = ctx;
    if (out.json) return out.printJson(rows);
    if (out.quiet) {
      for (const r of rows) out.line(r.digest);
      return;
    }
    out.table(["DIGEST", "SIZE", "LAYER DIGEST"], rows.map((r) => [r.digest, String(r.size), r.layerDigest]));
  },
};
