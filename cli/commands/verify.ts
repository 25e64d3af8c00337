/**
 * `soci verify IMAGE` (ours; no upstream equivalent): checks a SOCI-enabled
 * image (an OCI layout directory or tar) end to end — every SOCI index is
 * canonical JSON, points at the right manifest, and each zTOC decodes, matches
 * its layer's size and span digests and describes the layer's tar entries,
 * and each prefetch artifact (formats §9.6) is intact, parses, and names
 * spans of a layer that has a zTOC in its index.
 * Prints one line per checked item and a summary; exits 1 on any failure.
 */
import type { CommandSpec } from "../command.ts";
import { verifyImage } from "./_store.ts";

export const verifyCommand: CommandSpec = {
  name: "verify",
  args: "<image>",
  description: "Verify the SOCI indexes and zTOCs of an image against its layers",
  async run(ctx, args) {
    await verifyImage(ctx, args[0] as string);
  },
};
