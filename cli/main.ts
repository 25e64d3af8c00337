/**
 * `soci`: the cac program, and the one error edge of the CLI (STYLE §7, §9.9).
 *
 * `run(argv)` is the CLI as a library: it parses `argv` (without the runtime
 * and script path), runs one command and returns the exit code — 0 on success,
 * 1 when the command failed (`soci: <message>` on stderr, formats §11), 2 for a
 * bad command line (the message says what is valid). `main()` only does
 * process work: worker-thread dispatch, argv, streams, exit code.
 *
 * Subcommands (`index list`, `ztoc get-file`) are folded into one cac command
 * token before parsing (see `foldSubcommand`), because cac matches a single
 * word; help and errors then name them as users type them.
 *
 * Not here: what commands do (commands/), formatting (output.ts).
 */
import { cac, type CAC, type Command } from "cac";
import { availableParallelism, homedir } from "node:os";
import { join, resolve } from "node:path";
import { SociError, UsageError } from "../core-wasm/src/errors.ts";
import { runZtocWorkerIfWorker } from "../core-wasm/src/workers/mod.ts";
import { boolFlag, intFlag, listFlag, stringFlag, type CommandSpec, type Context, type Flags, type OptionSpec, type RegistryFlags } from "./command.ts";
import { COMMANDS, GROUPS } from "./commands/mod.ts";
import { Output, reportError, type Writer } from "./output.ts";
import { VERSION } from "./version.ts";

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { flags: "--store <dir>", description: "Local content store for SOCI artifacts", defaultText: "$XDG_DATA_HOME/soci or ~/.local/share/soci" },
  { flags: "--json", description: "Print results as JSON" },
  { flags: "-q, --quiet", description: "Print only essential output (digests)" },
  { flags: "--debug", description: "Print debug output (HTTP requests with credentials redacted) and stack traces" },
  { flags: "--plain-http", description: "Talk to registries over plain HTTP" },
  { flags: "--insecure-registry <host>", description: "Talk to this registry host[:port] over plain HTTP (repeatable)", defaultText: "loopback hosts only" },
  { flags: "--hosts-dir <dir>", description: "containerd hosts.toml directory (config_path) for registry mirrors and endpoints" },
  { flags: "-u, --user <user:pass>", description: "Registry credentials", defaultText: "from ~/.docker/config.json" },
  { flags: "--max-concurrent-uploads <n>", description: "Blob uploads at once", defaultText: "3" },
  { flags: "--max-concurrent-downloads <n>", description: "Blob downloads at once", defaultText: "3" },
  { flags: "--registry-timeout <seconds>", description: "Registry request timeout: until response headers, and the longest pause inside a body (each retried)", defaultText: "30" },
  { flags: "-h, --help", description: "Show help" },
  { flags: "-v, --version", description: "Show the version" },
];

/** Boolean flags of every command; all other flags take a value (for folding). */
const BOOLEAN_FLAGS = new Set([
  "json", "q", "quiet", "debug", "h", "help", "v", "version", "force", "f", "all-platforms", "standalone",
  "plain-http", "password-stdin",
  "foreground", "soci-v1", "background-fetch", "stats",
]);

export interface RunOptions {
  stdout?: Writer;
  stderr?: Writer;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Program file that serves zTOC worker threads (set by `main`). */
  workerUrl?: URL;
  /** Standard input as text (`--password-stdin`); default: none. */
  readStdin?: () => Promise<string>;
}

/** The default store: `$XDG_DATA_HOME/soci`, else `~/.local/share/soci`. */
export function defaultStoreDir(env: Record<string, string | undefined>): string {
  const xdg = env.XDG_DATA_HOME;
  if (xdg !== undefined && xdg !== "" && xdg.startsWith("/")) return join(xdg, "soci");
  const home = env.HOME !== undefined && env.HOME !== "" ? env.HOME : safeHomedir();
  if (home === "") {
    throw new SociError("Cannot find the default store: neither XDG_DATA_HOME nor HOME is set", { hint: "Pass --store DIR" });
  }
  return join(home, ".local", "share", "soci");
}

function safeHomedir(): string {
  try {
    return homedir();
  } catch {
    return "";
  }
}

/**
 * Rewrites `index list …` into one token `"index list"` at the position of
 * `index`, so cac can match it. Scans like mri does: a flag not known to be
 * boolean consumes the next token unless that starts with `-` or it has `=`.
 */
export function foldSubcommand(argv: readonly string[], groups: ReadonlySet<string>): string[] {
  const positions: number[] = [];
  for (let i = 0; i < argv.length && positions.length < 2; i++) {
    const a = argv[i];
    if (a === "--") break;
    if (a.startsWith("-") && a !== "-") {
      if (a.includes("=")) continue;
      const name = a.startsWith("--") ? a.slice(2) : a.slice(-1);
      if (name.startsWith("no-") || BOOLEAN_FLAGS.has(name)) continue;
      if (i + 1 < argv.length && !argv[i + 1].startsWith("-")) i++;
      continue;
    }
    positions.push(i);
    if (positions.length === 1 && !groups.has(a)) break;
  }
  if (positions.length < 2 || !groups.has(argv[positions[0]])) return [...argv];
  const out = [...argv];
  out[positions[0]] = `${argv[positions[0]]} ${argv[positions[1]]}`;
  out.splice(positions[1], 1);
  return out;
}

/**
 * cac 7 tells mri its boolean flags by their camelCase names only, so a
 * hyphenated boolean (`--all-platforms`) would swallow the next argument as its
 * value (`soci convert --all-platforms SRC DST` lost SRC). Spelling those flags
 * in camelCase, which cac also accepts, makes mri treat them as booleans.
 */
export function camelBooleans(argv: readonly string[]): string[] {
  const end = argv.indexOf("--");
  return argv.map((a, i) => {
    if ((end >= 0 && i >= end) || !a.startsWith("--") || !BOOLEAN_FLAGS.has(a.slice(2)) || !a.includes("-", 2)) return a;
    return "--" + a.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  });
}

function buildProgram(): { cli: CAC; specs: Map<Command, CommandSpec> } {
  const cli = cac("soci");
  for (const o of GLOBAL_OPTIONS) cli.option(o.flags, o.description);
  const specs = new Map<Command, CommandSpec>();
  for (const spec of COMMANDS) {
    const cmd = cli.command(spec.args ? `${spec.name} ${spec.args}` : spec.name, spec.description);
    for (const a of spec.aliases ?? []) cmd.alias(a);
    for (const o of spec.options ?? []) cmd.option(o.flags, o.description);
    specs.set(cmd, spec);
  }
  return { cli, specs };
}

export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<number> {
  const stdout = opts.stdout ?? { write: () => true };
  const stderr = opts.stderr ?? { write: () => true };
  const env = opts.env ?? {};
  const debug = argv.includes("--debug");
  try {
    return await runCommand(argv, stdout, stderr, env, opts);
  } catch (e) {
    if (isBrokenPipe(e)) return BROKEN_PIPE_STATUS;
    return reportError(e, stderr, debug);
  }
}

/**
 * The reader of our output went away (`soci ztoc info D | head -1`): stop
 * quietly with the status a process killed by SIGPIPE has, as Unix filters
 * (and Go programs such as upstream's CLI) do.
 */
const BROKEN_PIPE_STATUS = 141;
function isBrokenPipe(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === "EPIPE";
}

async function runCommand(
  argv: readonly string[],
  stdout: Writer,
  stderr: Writer,
  env: Record<string, string | undefined>,
  opts: RunOptions,
): Promise<number> {
  const { cli, specs } = buildProgram();
  const folded = camelBooleans(foldSubcommand(argv, GROUPS));
  try {
    cli.parse(["soci", "soci", ...folded], { run: false });
  } catch (e) {
    throw asUsageError(e);
  }
  const flags = cli.options;
  const matched = cli.matchedCommand;
  const spec = matched ? specs.get(matched) : undefined;

  if (flags.help === true) {
    stdout.write(spec ? commandHelp(spec) : programHelp());
    return 0;
  }
  if (flags.version === true) {
    stdout.write(versionLine() + "\n");
    return 0;
  }
  if (spec === undefined || matched === undefined) {
    const word = cli.args[0];
    if (word === undefined) throw usage("Cannot run soci: no command given");
    if (GROUPS.has(word)) throw usage(`Cannot run ${JSON.stringify(word)}: a subcommand is required`, word);
    throw usage(`Cannot run ${JSON.stringify(word)}: unknown command`, word.split(" ")[0]);
  }

  // cac's own checks: unknown flags, missing flag values, argument counts.
  try {
    matched.checkUnknownOptions();
    matched.checkOptionValue();
    matched.checkRequiredArgs();
    matched.checkUnusedArgs();
  } catch (e) {
    throw asUsageError(e, spec);
  }
  const args: Array<string | string[]> = matched.args.map((a, i) => (a.variadic ? cli.args.slice(i).map(String) : ((cli.args[i] === undefined ? undefined : String(cli.args[i])) as string)));

  const out = new Output(stdout, stderr, { json: flags.json === true, quiet: flags.quiet === true, debug: flags.debug === true });
  const storeFlag = flags.store;
  if (storeFlag !== undefined && (typeof storeFlag !== "string" || storeFlag === "")) {
    throw new UsageError("Cannot use --store: a directory is required");
  }
  const cwd = opts.cwd ?? process.cwd();
  const ctx: Context = {
    out,
    storeDir: typeof storeFlag === "string" ? resolve(cwd, storeFlag) : defaultStoreDir(env),
    env,
    cwd,
    version: VERSION,
    cpus: cpuCount(),
    ...(opts.workerUrl ? { workerUrl: opts.workerUrl } : {}),
    registry: registryFlags(flags, cwd),
    ...(opts.readStdin ? { readStdin: opts.readStdin } : {}),
  };
  out.trace(`store ${ctx.storeDir}`);
  await spec.run(ctx, args, flags);
  return 0;
}

/** The global registry flags, checked. */
function registryFlags(flags: Flags, cwd: string): RegistryFlags {
  const hostsDir = stringFlag(flags, "hostsDir", "--hosts-dir");
  const user = stringFlag(flags, "user", "--user"); // checked where used: `login -u NAME` takes a bare name
  return {
    plainHttp: boolFlag(flags, "plainHttp"),
    insecureHosts: listFlag(flags, "insecureRegistry", "--insecure-registry"),
    ...(hostsDir !== undefined ? { hostsDir: resolve(cwd, hostsDir) } : {}),
    ...(user !== undefined ? { user } : {}),
    maxConcurrentUploads: intFlag(flags, "maxConcurrentUploads", "--max-concurrent-uploads", 3, 0) || 3,
    maxConcurrentDownloads: intFlag(flags, "maxConcurrentDownloads", "--max-concurrent-downloads", 3, 0) || 3,
    timeoutSeconds: intFlag(flags, "registryTimeout", "--registry-timeout", 30, 1),
  };
}

function cpuCount(): number {
  try {
    return Math.max(1, availableParallelism());
  } catch {
    return 1;
  }
}

function usage(message: string, near?: string): UsageError {
  const names = COMMANDS.map((c) => c.name);
  const groupCmds = near && GROUPS.has(near) ? names.filter((n) => n.startsWith(near + " ")) : [];
  const valid = groupCmds.length > 0 ? groupCmds : [...new Set(names.map((n) => n.split(" ")[0]))];
  return new UsageError(message, { hint: `Valid commands: ${valid.join(", ")}; run "soci --help" for usage` });
}

/** cac's CACError (unknown option, missing value, wrong argument count) → UsageError naming what is valid. */
function asUsageError(e: unknown, spec?: CommandSpec): unknown {
  if (!(e instanceof Error) || e.name !== "CACError") return e;
  const m = e.message;
  let msg = m;
  let unknown = /^Unknown option `(.+)`$/.exec(m);
  if (unknown) msg = `Cannot use ${unknown[1]}: unknown flag${spec ? ` for "${spec.name}"` : ""}`;
  else if (/^missing required args/.test(m)) msg = `Cannot run "${spec?.name}": missing arguments (usage: soci ${spec?.name} ${spec?.args ?? ""})`.trimEnd();
  else if (/^Unused args: /.test(m)) msg = `Cannot run "${spec?.name}": too many arguments: ${m.slice("Unused args: ".length).replaceAll("`", '"')}`;
  else if (/^option `(.+)` value is missing$/.test(m)) msg = `Cannot use ${/^option `(.+?)[ `]/.exec(m)?.[1] ?? "flag"}: a value is required`;
  const valid = spec ? [...(spec.options ?? []), ...GLOBAL_OPTIONS].map((o) => o.flags.replace(/ <.*>$/, "")).join(", ") : "";
  const hint = spec
    ? unknown
      ? `Valid flags: ${valid}`
      : `Usage: soci ${spec.name}${spec.args ? " " + spec.args : ""} [flags]; run "soci ${spec.name} --help"`
    : 'Run "soci --help" for usage';
  // cac's wording is replaced, not chained: its message would only repeat ours.
  return new UsageError(msg, { hint });
}

export function versionLine(): string {
  return `soci version ${VERSION} (soci-ts; ${runtimeName()})`;
}

function runtimeName(): string {
  const g = globalThis as { Deno?: { version?: { deno?: string } }; Bun?: { version?: string } };
  if (g.Bun?.version) return `bun ${g.Bun.version}`;
  if (g.Deno?.version?.deno) return `deno ${g.Deno.version.deno}`;
  return `node ${process.version}`;
}

function optionLines(options: readonly OptionSpec[]): string {
  const width = Math.max(...options.map((o) => o.flags.length));
  return options
    .map((o) => `  ${o.flags.padEnd(width)}    ${o.description}${o.defaultText !== undefined ? ` (default: ${o.defaultText})` : ""}`)
    .join("\n");
}

export function programHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => (c.name + (c.args ? " " + c.args : "")).length));
  const cmds = COMMANDS.map((c) => `  ${(c.name + (c.args ? " " + c.args : "")).padEnd(width)}    ${c.description}`).join("\n");
  return (
    `soci ${VERSION} — Seekable OCI (SOCI) toolkit; no containerd needed\n\n` +
    `Usage:\n  soci [global flags] <command> [flags] [args]\n\n` +
    `Commands:\n${cmds}\n\n` +
    `Global flags:\n${optionLines(GLOBAL_OPTIONS)}\n\n` +
    `Run "soci <command> --help" for a command's flags.\n`
  );
}

export function commandHelp(spec: CommandSpec): string {
  const aliases = spec.aliases && spec.aliases.length > 0 ? `\nAliases: ${spec.aliases.join(", ")}\n` : "";
  const own = spec.options && spec.options.length > 0 ? `\nFlags:\n${optionLines(spec.options)}\n` : "";
  const examples = spec.examples && spec.examples.length > 0 ? `\nExamples:\n${spec.examples.map((e) => "  " + e).join("\n")}\n` : "";
  return (
    `${spec.description}\n\nUsage:\n  soci ${spec.name}${spec.options?.length ? " [flags]" : ""}${spec.args ? " " + spec.args : ""}\n` +
    aliases +
    own +
    `\nGlobal flags:\n${optionLines(GLOBAL_OPTIONS)}\n` +
    examples
  );
}

/** Process work only: worker dispatch, argv, streams, exit code. */
export async function main(programUrl: string): Promise<void> {
  if (runZtocWorkerIfWorker()) return;
  // Node reports a closed pipe as an 'error' event on the stream (Bun throws from write, see run()).
  process.stdout.on("error", (e) => {
    if (isBrokenPipe(e)) process.exit(BROKEN_PIPE_STATUS);
    throw e;
  });
  const code = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    workerUrl: new URL(programUrl),
    readStdin: async () => {
      const parts: Buffer[] = [];
      for await (const c of process.stdin) parts.push(c as Buffer);
      return Buffer.concat(parts).toString("utf8");
    },
  });
  process.exitCode = code;
}
