/**
 * Platforms the containerd way (formats §8.3): parsing `os[/arch[/variant]]`
 * specifiers, normalising (`x86_64`→`amd64`, `aarch64`→`arm64`, arm64 `v8`→ no
 * variant, `arm` → `v7` when absent, …), strict matching and the host default.
 *
 * Strict match = equal OS, architecture and variant after normalising both
 * sides (containerd `platforms.OnlyStrict`); the OS version only matters for
 * Windows, where two set versions must agree on major.minor.build.
 *
 * Not here: choosing manifests from an index (soci/convert.ts).
 */
import process from "node:process";
import { endianness } from "node:os";
import { InvalidArgumentError } from "../errors.ts";
import type { Platform } from "./model.ts";

const KNOWN_OS = new Set(["aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"]);
const KNOWN_ARCH = new Set(["386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm"]);
const SPECIFIER_PART = /^[A-Za-z0-9_.-]+$/;

function normalizeOs(os: string): string {
  const o = os.toLowerCase();
  return o === "macos" ? "darwin" : o;
}

/** containerd `normalizeArch`. */
function normalizeArch(arch: string, variant: string): [string, string] {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case "i386":
      a = "386";
      v = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      a = "amd64";
      if (v === "v1") v = "";
      break;
    case "aarch64":
    case "arm64":
      a = "arm64";
      if (v === "8" || v === "v8" || v === "v8.0") v = "";
      else if (v === "9" || v === "9.0" || v === "v9.0") v = "v9";
      break;
    case "armhf":
      a = "arm";
      v = "v7";
      break;
    case "armel":
      a = "arm";
      v = "v6";
      break;
    case "arm":
      if (v === "" || v === "7") v = "v7";
      else if (v === "5" || v === "6" || v === "8") v = "v" + v;
      break;
  }
  return [a, v];
}

/** containerd `platforms.Normalize`: a new object, optional fields kept. */
export function normalizePlatform(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? "");
  const out: Platform = { architecture, os: normalizeOs(p.os) };
  if (p.osVersion) out.osVersion = p.osVersion;
  if (p.osFeatures && p.osFeatures.length > 0) out.osFeatures = [...p.osFeatures];
  if (variant) out.variant = variant;
  return out;
}

/** The host platform as containerd's `platforms.DefaultSpec()` reports it (arm64 → variant `v8`). */
export function hostPlatform(): Platform {
  const os = process.platform === "win32" ? "windows" : process.platform === "sunos" ? "solaris" : process.platform;
  const archMap: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" };
  let architecture = archMap[process.arch] ?? process.arch;
  if (process.arch === "ppc64") architecture = endianness() === "LE" ? "ppc64le" : "ppc64";
  const p: Platform = { architecture, os };
  if (architecture === "arm64") p.variant = "v8";
  if (architecture === "arm") {
    const v = String((process.config.variables as Record<string, unknown>).arm_version ?? "7");
    p.variant = "v" + v;
  }
  return p;
}

/**
 * Parses a specifier (`linux`, `arm64`, `linux/amd64`, `linux/arm/v6`,
 * `windows(10.0.17763)/amd64`) and normalises it (formats §8.3: `--platform`
 * values are normalised). A lone OS gets the host architecture; a lone
 * architecture the host OS. Throws InvalidArgumentError naming the specifier.
 */
export function parsePlatform(specifier: string, host: Platform = hostPlatform()): Platform {
  const bad = (why: string) =>
    new InvalidArgumentError(`Cannot parse platform ${JSON.stringify(specifier)}: ${why}`, { hint: "Use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8" });
  let spec = specifier.trim();
  let osVersion: string | undefined;
  const m = /^([^/(]*)\(([^)]*)\)(.*)$/.exec(spec);
  if (m) {
    osVersion = m[2];
    spec = m[1] + m[3];
  }
  const parts = spec.split("/");
  if (parts.length > 3) throw bad("more than three parts");
  for (const part of parts) if (!SPECIFIER_PART.test(part)) throw bad(`${JSON.stringify(part)} is not a valid component`);
  let p: Platform;
  if (parts.length === 1) {
    const os = normalizeOs(parts[0]);
    if (KNOWN_OS.has(os)) p = { architecture: host.architecture, os, ...(host.variant && host.architecture === "arm" ? { variant: host.variant } : {}) };
    else {
      const [architecture] = normalizeArch(parts[0], "");
      if (!KNOWN_ARCH.has(architecture)) throw bad("unknown operating system or architecture");
      p = { architecture, os: host.os };
    }
  } else {
    p = { architecture: parts[1], os: parts[0], ...(parts[2] !== undefined ? { variant: parts[2] } : {}) };
  }
  if (osVersion) p.osVersion = osVersion;
  return normalizePlatform(p);
}

/** `os/arch[/variant]`, containerd's `platforms.Format`. */
export function formatPlatform(p: Platform): string {
  return [p.os || "unknown", p.architecture || "unknown", ...(p.variant ? [p.variant] : [])].join("/");
}

/** Strict match of `candidate` against `want` (both normalised first). */
export function matchPlatform(want: Platform, candidate: Platform): boolean {
  const a = normalizePlatform(want);
  const b = normalizePlatform(candidate);
  if (a.os !== b.os || a.architecture !== b.architecture || (a.variant ?? "") !== (b.variant ?? "")) return false;
  if (a.os === "windows" && a.osVersion && b.osVersion) {
    const prefix = (v: string) => v.split(".").slice(0, 3).join(".");
    return prefix(a.osVersion) === prefix(b.osVersion);
  }
  return true;
}

/** Same platform, field by field (no normalisation): used to drop duplicates. */
export function samePlatform(a: Platform, b: Platform): boolean {
  return (
    a.os === b.os &&
    a.architecture === b.architecture &&
    (a.variant ?? "") === (b.variant ?? "") &&
    (a.osVersion ?? "") === (b.osVersion ?? "") &&
    (a.osFeatures ?? []).join("\0") === (b.osFeatures ?? []).join("\0")
  );
}
