/**
 * `soci umount DIR` (issue 5): stops the `soci mount` daemon serving DIR —
 * it unmounts the overlay, then its FUSE mounts, then exits — or, when that
 * daemon is dead (kill -9), removes the mounts it left. Same `--root` as the
 * mount.
 */
import { resolve } from "node:path";
import { unmountImage } from "../../snapshotter/mod.ts";
import type { CommandSpec } from "../command.ts";
import { mountRootOf } from "./mount.ts";

export const umountCommand: CommandSpec = {
  name: "umount",
  aliases: ["unmount"],
  args: "<dir>",
  description: "Unmount an image mounted with soci mount and stop its daemon",
  options: [{ flags: "--root <dir>", description: "State dir used by the mount", defaultText: "as soci mount" }],
  async run(ctx, args, flags) {
    const r = await unmountImage({ root: mountRootOf(ctx, flags), target: resolve(ctx.cwd, args[0] as string), log: (l) => ctx.out.trace(l) });
    if (ctx.out.json) ctx.out.printJson(r);
    else ctx.out.info(r.how === "stopped" ? `unmounted ${r.target} (daemon ${r.pid} stopped)` : `unmounted ${r.target} (daemon ${r.pid} was gone; its mounts were cleaned)`);
  },
};
