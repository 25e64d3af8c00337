/**
 * `soci index list` / `ls` (formats §11.2): the SOCI indexes recorded in the
 * local store, newest first, as the upstream table
 * `DIGEST SIZE IMAGE REF PLATFORM MEDIA TYPE MANIFEST VERSION CREATED`;
 * `--quiet` prints digests only, `--json` an array of records.
 */
import { listFlag, stringFlag, type CommandSpec } from "../command.ts";
import { ago } from "../output.ts";
import { listIndexes } from "./_store.ts";

export const indexListCommand: CommandSpec = {
  name: "index list",
  aliases: ["index ls"],
  description: "List the SOCI indexes in the local store",
  options: [
    { flags: "--ref <image>", description: "Only indexes built for this image (a layout path or image name in the store); for a registry reference, also the indexes the registry image carries (v2 in its index, v1 as referrers)" },
    { flags: "-p, --platform <platform>", description: "Only indexes for this platform (repeatable, comma separated)" },
  ],
  async run(ctx, _args, flags) {
    const ref = stringFlag(flags, "ref", "--ref");
    const platforms = listFlag(flags, "platform", "--platform");
    const rows = await listIndexes(ctx, { ...(ref !== undefined ? { ref } : {}), platforms });
    const { out } = ctx;
    if (out.json) return out.printJson(rows);
    if (out.quiet) {
      for (const r of rows) out.line(r.digest);
      return;
    }
    const now = Date.now();
    out.table(
      ["DIGEST", "SIZE", "IMAGE REF", "PLATFORM", "MEDIA TYPE", "MANIFEST VERSION", "CREATED"],
      rows.map((r) => [r.digest, String(r.size), r.imageRef ?? "", r.platform, r.mediaType, r.manifestVersion, ago(Date.parse(r.createdAt), now)]),
    );
  },
};
