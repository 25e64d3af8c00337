/**
 * The command table: every `soci` command in help order, and the words that
 * group subcommands (`index list`, `ztoc info`, `prefetch ls`).
 */
import type { CommandSpec } from "../command.ts";
import { convertCommand } from "./convert.ts";
import { copyCommand } from "./copy.ts";
import { loginCommand } from "./login.ts";
import { mountCommand } from "./mount.ts";
import { umountCommand } from "./umount.ts";
import { logoutCommand } from "./logout.ts";
import { pullCommand } from "./pull.ts";
import { pushCommand } from "./push.ts";
import { createCommand } from "./create.ts";
import { indexInfoCommand } from "./index_info.ts";
import { indexListCommand } from "./index_list.ts";
import { indexRemoveCommand } from "./index_rm.ts";
import { verifyCommand } from "./verify.ts";
import { ztocGetFileCommand } from "./ztoc_get_file.ts";
import { ztocInfoCommand } from "./ztoc_info.ts";
import { ztocListCommand } from "./ztoc_list.ts";
import { prefetchInfoCommand } from "./prefetch_info.ts";
import { prefetchListCommand } from "./prefetch_list.ts";
import { snapshotterCommand } from "./snapshotter.ts";
import { imageRpullCommand } from "./image_rpull.ts";

export const COMMANDS: readonly CommandSpec[] = [
  convertCommand,
  createCommand,
  indexListCommand,
  indexInfoCommand,
  indexRemoveCommand,
  ztocListCommand,
  ztocInfoCommand,
  ztocGetFileCommand,
  prefetchListCommand,
  prefetchInfoCommand,
  verifyCommand,
  pullCommand,
  pushCommand,
  copyCommand,
  loginCommand,
  logoutCommand,
  mountCommand,
  umountCommand,
  snapshotterCommand,
  imageRpullCommand,
];

export const GROUPS: ReadonlySet<string> = new Set(["index", "ztoc", "prefetch", "image"]);
