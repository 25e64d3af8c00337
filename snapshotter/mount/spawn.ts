/**
 * Detaching the mount daemon: `soci mount` starts itself again with
 * `--foreground --ready-fd 3`, detached (own session), its stdout/stderr
 * appended to the mount's log file, and a pipe as fd 3. The child writes one
 * JSON line there — `{"ready": …}` once the target is mounted, or
 * `{"error": {message, hint}}` — and closes it; the parent returns (or throws)
 * accordingly and leaves the child running. A child that exits without a
 * line fails the start with the log's tail.
 *
 * The program to start: `SOCI_PROGRAM` (a file: `.mjs`/`.js` run with this
 * runtime, anything else run directly), else the program URL `main` passes
 * (a Bun single binary's embedded `/$bunfs/…` URL → the binary itself; a
 * bundle → this runtime + the bundle; Deno adds `run -A`).
 *
 * Not here: what the daemon does (daemon.ts).
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { SociError } from "../../core-wasm/src/errors.ts";

export interface ReadyMessage {
  pid: number;
  target: string;
  layers: number;
  lazy: number;
  unpacked: number;
  note?: string;
}

type Message = { ready: ReadyMessage } | { error: { message: string; hint?: string } };

const isJsFile = (p: string) => /\.(mjs|cjs|js|ts)$/.test(p);

/** argv (without the command's own arguments) that starts this program again, or null when unknown. */
export function selfCommand(programUrl: URL | undefined, env: Record<string, string | undefined>): string[] | null {
  // A binary replaced on disk while running (a rebuild, an upgrade) reports "<path> (deleted)": start the new one.
  const exec = process.execPath.replace(/ \(deleted\)$/, "");
  const runtime = (file: string) => ((globalThis as { Deno?: unknown }).Deno ? [exec, "run", "-A", file] : [exec, file]);
  const override = env.SOCI_PROGRAM;
  if (override) return isJsFile(override) ? runtime(override) : [override];
  if (programUrl === undefined || programUrl.protocol !== "file:") return null;
  const path = decodeURIComponent(programUrl.pathname);
  if (path.startsWith("/$bunfs/") || path.includes("/~BUN/")) return [exec];
  return runtime(fileURLToPath(programUrl));
}

/**
 * Starts `argv` detached with the readiness pipe (see the module header).
 * Resolves with the ready message; throws SociError with the child's error
 * (and hint), or with the log tail when it died silently or `timeoutMs` passed.
 */
export function startDetached(argv: string[], opts: { logPath: string; env: Record<string, string | undefined>; cwd: string; timeoutMs?: number }): Promise<ReadyMessage> {
  mkdirSync(dirname(opts.logPath), { recursive: true });
  const logFd = openSync(opts.logPath, "a");
  const child = spawn(argv[0], argv.slice(1), {
    detached: true,
    cwd: opts.cwd,
    env: opts.env as NodeJS.ProcessEnv,
    stdio: ["ignore", logFd, logFd, "pipe"],
  });
  closeSync(logFd);
  const tail = () => {
    try {
      return readFileSync(opts.logPath, "utf8").trim().split("\n").slice(-8).join("\n");
    } catch {
      return "";
    }
  };
  return new Promise<ReadyMessage>((resolve, reject) => {
    let text = "";
    let settled = false;
    const pipe = child.stdio[3] as NodeJS.ReadableStream | null;
    const finish = (err: Error | null, msg?: ReadyMessage) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      (pipe as unknown as { destroy?: () => void })?.destroy?.();
      child.unref();
      if (err) reject(err);
      else resolve(msg!);
    };
    const timer = setTimeout(() => {
      finish(new SociError(`Cannot start the mount daemon: not ready after ${opts.timeoutMs ?? 600_000} ms`, { hint: `See ${opts.logPath}` }));
    }, opts.timeoutMs ?? 600_000);
    pipe?.on("data", (c: Buffer) => {
      text += c.toString("utf8");
      const nl = text.indexOf("\n");
      if (nl < 0) return;
      let m: Message;
      try {
        m = JSON.parse(text.slice(0, nl)) as Message;
      } catch {
        return finish(new SociError(`Cannot start the mount daemon: unreadable readiness message`, { hint: `See ${opts.logPath}` }));
      }
      if ("ready" in m) finish(null, m.ready);
      else finish(new SociError(m.error.message, m.error.hint ? { hint: m.error.hint } : {}));
    });
    pipe?.on("error", () => {});
    child.once("error", (e) => finish(new SociError(`Cannot start the mount daemon "${argv[0]}": ${e.message}`, { cause: e })));
    child.once("close", (code, signal) => {
      finish(new SociError(`Cannot mount: the mount daemon exited (${signal ?? code}) before it was ready${tail() ? `:\n${tail()}` : ""}`, { hint: `See ${opts.logPath}` }));
    });
  });
}

/** The daemon side: writes the one readiness line to `fd` and closes it. */
export function reportReadiness(fd: number, message: Message): void {
  try {
    writeSync(fd, JSON.stringify(message) + "\n");
  } finally {
    try {
      closeSync(fd);
    } catch {
      // already closed: the parent is gone, nothing to tell
    }
  }
}
