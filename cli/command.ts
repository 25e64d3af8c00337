/**
 * The shape every `soci` command shares: a declarative spec (name, arguments,
 * flags, help) that main.ts registers with cac, the per-run context handed to
 * it, and the flag checks commands use before calling the core.
 *
 * Flag values arrive as cac/mri parses them (numbers already converted, a
 * repeated flag as an array); the checks here turn them into typed values or
 * throw a `UsageError` that names the flag and what would be valid.
 *
 * Not here: cac itself (main.ts), printing (output.ts).
 */
import { UsageError } from "../core-wasm/src/errors.ts";
import type { Output } from "./output.ts";

export interface OptionSpec {
  /** cac syntax: "-p, --platform <platform>" (value) or "--force" (boolean). */
  flags: string;
  description: string;
  /** Shown in help as "(default: …)"; commands apply their own defaults. */
  defaultText?: string;
}

/** The global registry flags, checked (main.ts); commands/_registry.ts turns them into a client. */
export interface RegistryFlags {
  /** `--plain-http`: every registry over http. */
  plainHttp: boolean;
  /** `--insecure-registry HOST` (repeatable): these hosts over http. */
  insecureHosts: string[];
  /** `--hosts-dir DIR`: containerd hosts.toml `config_path`. */
  hostsDir?: string;
  /** `-u/--user USER:PASS`: credentials for every registry of the command (before docker config). */
  user?: string;
  maxConcurrentUploads: number;
  maxConcurrentDownloads: number;
  /** `--registry-timeout SECONDS` (default 30): header timeout and body idle timeout per request. */
  timeoutSeconds: number;
}

/** What a command receives besides its arguments. */
export interface Context {
  out: Output;
  /** The local content store directory (--store or the default). */
  storeDir: string;
  env: Record<string, string | undefined>;
  cwd: string;
  version: string;
  /** Logical CPUs: the default for --jobs. */
  cpus: number;
  /** Program file that serves zTOC worker threads; absent → build on this thread. */
  workerUrl?: URL;
  registry: RegistryFlags;
  /** Reads standard input to its end (`--password-stdin`); injected by `run`. */
  readStdin?: () => Promise<string>;
}

export type Flags = Record<string, unknown>;

export interface CommandSpec {
  /** "convert", or "index list" for a subcommand. */
  name: string;
  aliases?: string[];
  /** cac argument syntax: "<src> <dst>", "<digest...>". */
  args?: string;
  description: string;
  options?: OptionSpec[];
  examples?: string[];
  /** Positional arguments in declaration order (a variadic one as an array). */
  run(ctx: Context, args: Array<string | string[]>, flags: Flags): Promise<void>;
}

/** A flag that must be an integer ≥ `min`; `fallback` when absent. */
export function intFlag(flags: Flags, key: string, flag: string, fallback: number, min = 0): number {
  const v = flags[key];
  if (v === undefined) return fallback;
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`Cannot use ${flag} ${JSON.stringify(String(v))}: expected an integer ≥ ${min}`);
  }
  return n;
}

/** A string flag, or `fallback`; the last one wins when repeated. */
export function stringFlag(flags: Flags, key: string, flag: string, fallback?: string): string | undefined {
  let v = flags[key];
  if (Array.isArray(v)) v = v[v.length - 1];
  if (v === undefined) return fallback;
  if (typeof v === "boolean") throw new UsageError(`Cannot use ${flag}: a value is required`);
  return String(v);
}

/** A string flag restricted to `choices`. */
export function choiceFlag<T extends string>(flags: Flags, key: string, flag: string, choices: readonly T[], fallback: T): T {
  const v = stringFlag(flags, key, flag, fallback)!;
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(`Cannot use ${flag} ${JSON.stringify(v)}: expected one of ${choices.join(", ")}`);
  }
  return v as T;
}

/** A repeatable, comma-separable flag (formats §11): trimmed, empties dropped. */
export function listFlag(flags: Flags, key: string, flag: string): string[] {
  const v = flags[key];
  if (v === undefined) return [];
  const raw = Array.isArray(v) ? v : [v];
  const out: string[] = [];
  for (const r of raw) {
    if (typeof r === "boolean") throw new UsageError(`Cannot use ${flag}: a value is required`);
    for (const part of String(r).split(",")) {
      const t = part.trim();
      if (t !== "") out.push(t);
    }
  }
  return out;
}

export function boolFlag(flags: Flags, key: string): boolean {
  const v = flags[key];
  return Array.isArray(v) ? v.some((x) => x === true) : v === true;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** A positional digest argument: full `sha256:<64 hex>` (formats §0). */
export function digestArg(value: string, what: string): string {
  if (!DIGEST_RE.test(value)) {
    throw new UsageError(`Cannot use ${what} ${JSON.stringify(value)}: expected a full digest "sha256:<64 lowercase hex>"`);
  }
  return value;
}
