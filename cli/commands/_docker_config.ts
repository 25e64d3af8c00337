/**
 * Reading and atomically rewriting the Docker config file (`$DOCKER_CONFIG/
 * config.json`, else `~/.docker/config.json`) for `login`/`logout`: only the
 * `auths` entry of one registry changes; every other key is kept as it was.
 * The file is written 0600 beside itself and renamed into place, so a reader
 * sees the old or the new file. Private to commands/.
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { SociError } from "../../core-wasm/src/errors.ts";
import { writeFileAtomic } from "../../core-wasm/src/oci/mod.ts";
import { defaultDockerConfigPath } from "../../core-wasm/src/registry/mod.ts";
import type { Context } from "../command.ts";

const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

/** The `auths` key docker uses for a registry name. */
export function authKeyOf(registry: string): string {
  return registry === "docker.io" ? DOCKER_HUB_KEY : registry;
}

/** Keys that name the same registry (docker writes Hub under several spellings). */
function sameKeys(registry: string): string[] {
  return registry === "docker.io" ? [DOCKER_HUB_KEY, "index.docker.io", "docker.io", "registry-1.docker.io"] : [registry, `https://${registry}`, `http://${registry}`];
}

export function configPath(ctx: Context): string {
  const p = defaultDockerConfigPath(ctx.env);
  if (p === undefined) throw new SociError("Cannot find the Docker config: neither DOCKER_CONFIG nor HOME is set", { hint: "Set DOCKER_CONFIG to a directory" });
  return p;
}

async function readConfig(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {}; // first login
    throw new SociError(`Cannot read Docker config ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const v = JSON.parse(text);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below without quoting the content (it holds secrets)
  }
  throw new SociError(`Cannot update Docker config ${JSON.stringify(path)}: it is not a JSON object`, { hint: "Fix or move the file aside; it was left unchanged" });
}

async function writeConfig(path: string, config: Record<string, unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(config, null, "\t") + "\n"), 0o600);
}

/** Stores `user:password` for `registry`; returns the config path and whether a helper would shadow it. */
export async function saveAuth(ctx: Context, registry: string, username: string, password: string): Promise<{ path: string; shadowedBy?: string }> {
  const path = configPath(ctx);
  const config = await readConfig(path);
  const auths = (typeof config.auths === "object" && config.auths !== null ? config.auths : {}) as Record<string, unknown>;
  for (const k of sameKeys(registry)) delete auths[k];
  auths[authKeyOf(registry)] = { auth: Buffer.from(`${username}:${password}`).toString("base64") };
  config.auths = auths;
  await writeConfig(path, config);
  const helpers = (config.credHelpers ?? {}) as Record<string, unknown>;
  const shadowedBy = sameKeys(registry).map((k) => helpers[k]).find((h) => typeof h === "string") as string | undefined;
  return { path, ...(shadowedBy !== undefined ? { shadowedBy } : {}) };
}

/** Removes the stored credentials of `registry`; false when there were none. */
export async function removeAuth(ctx: Context, registry: string): Promise<{ path: string; removed: boolean }> {
  const path = configPath(ctx);
  const config = await readConfig(path);
  const auths = (typeof config.auths === "object" && config.auths !== null ? config.auths : {}) as Record<string, unknown>;
  const keys = sameKeys(registry).filter((k) => k in auths);
  if (keys.length === 0) return { path, removed: false };
  for (const k of keys) delete auths[k];
  config.auths = auths;
  await writeConfig(path, config);
  return { path, removed: true };
}
