/** containerd's API as a client (client.ts) and `soci image rpull` (rpull.ts). */
export { ContainerdClient, type PbDescriptor } from "./client.ts";
export { rpull, chainIds, fitLabel, type RpullOptions, type RpullResult, type RpullLayer } from "./rpull.ts";
