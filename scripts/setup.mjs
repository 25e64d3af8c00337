#!/usr/bin/env node
// Installs what soci-ts needs on a fresh Debian machine: the npm packages from
// the lockfile, and (as root) the Debian packages the tests and benchmarks use.
// Idempotent and quick when everything is already there. Under CI=true a
// missing prerequisite that cannot be installed is an error, never a skip.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Debian package → a command (or file) that proves it is installed. */
export const DEBIAN_PACKAGES = {
  "docker-registry": "docker-registry",
  skopeo: "skopeo",
  umoci: "umoci",
  containerd: "containerd",
  runc: "runc",
  debootstrap: "debootstrap",
  pigz: "pigz",
  zstd: "zstd",
  "apache2-utils": "htpasswd",
  jq: "jq",
  openssl: "openssl",
  hyperfine: "hyperfine",
  fuse3: "fusermount3",
  "libdeflate-tools": "libdeflate-gunzip",
  python3: "python3",
  tar: "tar",
  gzip: "gzip",
  gcc: "gcc",
  time: "/usr/bin/time",
  "zlib1g-dev": "/usr/include/zlib.h",
  "golang-go": "go",
};

function has(cmd) {
  if (cmd.startsWith("/")) return existsSync(cmd);
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}


export function ensureNodeModules() {
  const marker = join(root, "node_modules", ".package-lock.json");
  if (existsSync(marker) && existsSync(join(root, "node_modules", ".bin", "esbuild"))) return;
  console.error("setup: installing npm packages (npm ci)");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
}

export function ensureDebianPackages({ required = process.env.CI === "true" } = {}) {
  const missing = Object.entries(DEBIAN_PACKAGES).filter(([, cmd]) => !has(cmd)).map(([pkg]) => pkg);
  if (missing.length === 0) return [];
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot && has("apt-get")) {
    console.error(`setup: installing Debian packages: ${missing.join(" ")}`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync("apt-get", ["update", "-q"], { stdio: ["ignore", "ignore", "inherit"], env });
    execFileSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], {
      stdio: ["ignore", "ignore", "inherit"],
      env,
    });
    const still = Object.entries(DEBIAN_PACKAGES).filter(([, cmd]) => !has(cmd)).map(([pkg]) => pkg);
    if (still.length > 0) throw new Error(`setup: Debian packages still missing after apt-get: ${still.join(" ")}`);
    return [];
  }
  const msg = `setup: missing Debian packages: ${missing.join(" ")} (run as root: apt-get install ${missing.join(" ")})`;
  if (required) throw new Error(msg);
  console.error(msg);
  return missing;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureNodeModules();
  ensureDebianPackages();
}
