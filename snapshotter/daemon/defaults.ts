/** Upstream's default paths (snapshotter §12), for help texts. */
import { DEFAULT_ADDRESS, DEFAULT_CONFIG_PATH, DEFAULT_ROOT } from "../config.ts";

export const SNAPSHOTTER_DEFAULTS = { address: DEFAULT_ADDRESS, config: DEFAULT_CONFIG_PATH, root: DEFAULT_ROOT } as const;
