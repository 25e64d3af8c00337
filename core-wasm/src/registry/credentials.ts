/**
 * Where registry credentials come from (snapshotter §11.2): an explicit
 * `user:pass`, or a Docker config file (`auths` entries with base64 `auth`,
 * `username`/`password` or `identitytoken`; per-host `credHelpers`; a default
 * `credsStore`), tried in order by `chainCredentials`.
 *
 * Helpers are the `docker-credential-<name>` programs: `get` with the server URL
 * on stdin, `{"ServerURL","Username","Secret"}` on stdout; a Username of
 * `<token>` means Secret is an identity (refresh) token. Their output is never
 * logged or put in errors. The config path is always explicit (callers pass
 * `defaultDockerConfigPath()` for the user's own); nothing here reads `~` itself.
 */
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InvalidArgumentError, SociError } from "../errors.ts";

export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker `identitytoken`), exchanged at the token realm. */
  identityToken?: string;
}

/** Credentials for the endpoint host `host[:port]`, or undefined when there are none. */
export type CredentialSource = (host: string) => Promise<Credentials | undefined>;

const DOCKER_HUB_KEYS = ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];
const HELPER_TIMEOUT_MS = 30_000;
const MAX_CONFIG = 4 * 1024 * 1024;

/** Splits `user:pass` at the first colon. Throws InvalidArgumentError without one (the text is not echoed). */
export function parseUserPass(text: string): { username: string; password: string } {
  const at = text.indexOf(":");
  if (at <= 0) throw new InvalidArgumentError("Cannot use the credentials: expected user:password", { hint: "Pass --user name:password" });
  return { username: text.slice(0, at), password: text.slice(at + 1) };
}

/** The same credentials for every host, or only for `forHost` when given. */
export function staticCredentials(creds: Credentials | string, forHost?: string): CredentialSource {
  const c = typeof creds === "string" ? parseUserPass(creds) : creds;
  return async (host) => (forHost === undefined || sameRegistry(forHost, host) ? c : undefined);
}

/** The first source that returns credentials wins. */
export function chainCredentials(...sources: CredentialSource[]): CredentialSource {
  return async (host) => {
    for (const s of sources) {
      const c = await s(host);
      if (c !== undefined) return c;
    }
    return undefined;
  };
}

/** `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`; undefined without either variable. */
export function defaultDockerConfigPath(env: Record<string, string | undefined>): string | undefined {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, "config.json");
  if (env.HOME) return join(env.HOME, ".docker", "config.json");
  return undefined;
}

export interface DockerConfigOptions {
  /** The config.json to read; a missing file means no credentials. */
  path: string;
  /** Environment for helper programs (e.g. a PATH that finds them). Default: process.env. */
  env?: Record<string, string | undefined>;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Credentials from a Docker config file and its helpers. The file is read once, on first use. */
export function dockerConfigCredentials(options: DockerConfigOptions): CredentialSource {
  let config: Promise<DockerConfig | undefined> | undefined;
  return async (host) => {
    config ??= loadConfig(options.path);
    const cfg = await config;
    if (cfg === undefined) return undefined;
    const keys = hostKeys(host);
    for (const [registry, helper] of Object.entries(cfg.credHelpers ?? {})) {
      if (keys.includes(normalizeKey(registry))) return runHelper(helper, registry, options.env);
    }
    for (const [registry, entry] of Object.entries(cfg.auths ?? {})) {
      if (!keys.includes(normalizeKey(registry))) continue;
      const c = fromAuthEntry(entry, options.path);
      if (c !== undefined) return c;
    }
    if (cfg.credsStore) return runHelper(cfg.credsStore, isDockerHub(host) ? DOCKER_HUB_KEYS[0] : host, options.env);
    return undefined;
  };
}

async function loadConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    // No config file is the normal anonymous case.
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new SociError(`Cannot read Docker config ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
  }
  if (text.length > MAX_CONFIG) throw new SociError(`Cannot read Docker config ${JSON.stringify(path)}: it is larger than ${MAX_CONFIG} bytes`);
  try {
    const v = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v as DockerConfig;
  } catch (e) {
    // The JSON parser's message can quote file content (secrets): keep only that it failed.
    throw new SociError(`Cannot read Docker config ${JSON.stringify(path)}: it is not a valid JSON object`, {
      hint: "Fix or remove the file, or pass --user",
    });
  }
}

function fromAuthEntry(entry: NonNullable<DockerConfig["auths"]>[string], path: string): Credentials | undefined {
  if (typeof entry !== "object" || entry === null) return undefined;
  const out: Credentials = {};
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const at = decoded.indexOf(":");
    if (at <= 0) throw new SociError(`Cannot use Docker config ${JSON.stringify(path)}: an "auth" value is not base64 of user:password`);
    out.username = decoded.slice(0, at);
    out.password = decoded.slice(at + 1);
  } else if (typeof entry.username === "string") {
    out.username = entry.username;
    out.password = typeof entry.password === "string" ? entry.password : "";
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") out.identityToken = entry.identitytoken;
  return out.username !== undefined || out.identityToken !== undefined ? out : undefined;
}

function runHelper(name: string, serverUrl: string, env?: Record<string, string | undefined>): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    return Promise.reject(new SociError(`Cannot use credential helper ${JSON.stringify(name)}: the name is not valid`));
  }
  const program = `docker-credential-${name}`;
  const fail = (why: string, cause?: unknown) =>
    new SociError(`Cannot get credentials for ${JSON.stringify(serverUrl)} from ${program}: ${why}`, {
      hint: `Check that ${program} is installed and logged in, or pass --user`,
      cause,
    });
  return new Promise((resolve, reject) => {
    const child = spawn(program, ["get"], { stdio: ["pipe", "pipe", "pipe"], env: (env ?? process.env) as NodeJS.ProcessEnv });
    const out: Buffer[] = [];
    let errText = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), HELPER_TIMEOUT_MS);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => (errText += b.toString("utf8").slice(0, 512)));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(fail((e as NodeJS.ErrnoException).code === "ENOENT" ? "the program is not on PATH" : "it could not be started", e));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      // Helpers signal "no credentials" with this message and a non-zero exit.
      if (code !== 0 && /credentials not found/i.test(stdout + errText)) return resolve(undefined);
      if (code !== 0) return reject(fail(signal ? `it was killed by ${signal}` : `it exited with status ${code}`));
      let v: { Username?: unknown; Secret?: unknown };
      try {
        v = JSON.parse(stdout);
      } catch {
        return reject(fail("its output is not JSON"));
      }
      if (typeof v.Secret !== "string" || v.Secret === "") return resolve(undefined);
      if (v.Username === "<token>") return resolve({ identityToken: v.Secret });
      resolve({ username: typeof v.Username === "string" ? v.Username : "", password: v.Secret });
    });
    child.stdin.on("error", () => {}); // the helper may exit before reading; 'close' reports it
    child.stdin.end(serverUrl);
  });
}

/** `https://host:port/v1/` → `host:port`. */
function normalizeKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
}

function isDockerHub(host: string): boolean {
  return DOCKER_HUB_KEYS.map(normalizeKey).includes(normalizeKey(host));
}

function hostKeys(host: string): string[] {
  return isDockerHub(host) ? DOCKER_HUB_KEYS.map(normalizeKey) : [normalizeKey(host)];
}

function sameRegistry(a: string, b: string): boolean {
  return hostKeys(a).includes(normalizeKey(b));
}
