/**
 * `soci logout REGISTRY`: removes the registry's entry from the Docker
 * config's `auths` (rewritten atomically). Not being logged in is not an error.
 */
import { InvalidArgumentError } from "../../core-wasm/src/errors.ts";
import type { CommandSpec } from "../command.ts";
import { removeAuth } from "./_docker_config.ts";

const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

/** `registry.example:5000`, `https://registry.example/`, `docker.io` → the registry name as references spell it. */
export function registryNameOf(text: string): string {
  const bare = text.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  if (bare === "" ) throw new InvalidArgumentError(`Cannot use registry ${JSON.stringify(text)}: the name is empty`, { hint: "Pass host[:port], e.g. registry.example:5000" });
  if (bare === "index.docker.io" || bare === "registry-1.docker.io" || bare === "docker.io") return "docker.io";
  if (!HOST_RE.test(bare)) throw new InvalidArgumentError(`Cannot use registry ${JSON.stringify(text)}: not a host[:port]`, { hint: "Pass host[:port], e.g. registry.example:5000" });
  return bare;
}

export const logoutCommand: CommandSpec = {
  name: "logout",
  args: "<registry>",
  description: "Remove stored credentials for a registry",
  async run(ctx, args) {
    const registry = registryNameOf(args[0] as string);
    const { path, removed } = await removeAuth(ctx, registry);
    if (ctx.out.json) ctx.out.printJson({ registry, removed, config: path });
    else ctx.out.info(removed ? `Removing login credentials for ${registry}` : `Not logged in to ${registry}`);
  },
};
