/**
 * Everything the CLI prints goes through here: result lines, upstream-style
 * tables, JSON documents, the error edge and per-layer progress.
 *
 * Streams: results go to stdout, progress and diagnostics to stderr, so
 * `soci … --json | jq` and `soci index ls -q | xargs …` always see clean data.
 *
 * Tables follow upstream's Go `tabwriter` (padding 4, space filled, formats
 * §11.2): every column but the last is padded to its widest cell plus four
 * spaces; the last column is never padded.
 *
 * Progress (bytes, MB/s, ETA per layer) redraws in place only on a TTY; on a
 * pipe or file it prints one plain line per finished item, so logs stay
 * readable. `--quiet` turns progress and informational lines off; `--json`
 * turns them off on stdout (progress still goes to a TTY stderr).
 *
 * Not here: what a command prints (commands/), exit codes (main.ts).
 */
import { SociError, UsageError } from "../core-wasm/src/errors.ts";

/** The process surface the CLI needs, injectable so `run()` is testable. */
export interface Writer {
  write(chunk: string | Uint8Array): unknown;
  /** True when the stream is an interactive terminal (enables redraws). */
  isTTY?: boolean;
  /** Terminal width in columns, when known. */
  columns?: number;
}

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
}

export class Output {
  readonly stdout: Writer;
  readonly stderr: Writer;
  json: boolean;
  quiet: boolean;
  debug: boolean;

  constructor(stdout: Writer, stderr: Writer, opts: OutputOptions = {}) {
    this.stdout = stdout;
    this.stderr = stderr;
    this.json = opts.json === true;
    this.quiet = opts.quiet === true;
    this.debug = opts.debug === true;
  }

  /** A result line on stdout (always printed; commands decide what --quiet keeps). */
  line(text = ""): void {
    this.stdout.write(text + "\n");
  }

  /** Raw bytes on stdout (file contents). */
  writeBytes(bytes: Uint8Array): void {
    this.stdout.write(bytes);
  }

  /** An informational line on stdout, dropped under --quiet and --json. */
  info(text: string): void {
    if (this.quiet || this.json) return;
    this.stdout.write(text + "\n");
  }

  /** A warning on stderr (kept under --quiet: a warning is never silent). */
  warn(text: string): void {
    this.stderr.write(`soci: warning: ${text}\n`);
  }

  /** A debug line on stderr, only with --debug. */
  trace(text: string): void {
    if (this.debug) this.stderr.write(`soci: debug: ${text}\n`);
  }

  /** A JSON document on stdout, indented two spaces, newline terminated. */
  printJson(value: unknown): void {
    this.stdout.write(JSON.stringify(value, null, 2) + "\n");
  }

  /** An aligned table on stdout (formats §11.2); nothing but the header when empty. */
  table(header: readonly string[], rows: readonly (readonly string[])[]): void {
    this.stdout.write(formatTable(header, rows));
  }

  /** A progress display on stderr for per-item byte work. */
  progress(): Progress {
    if (this.quiet) return new Progress(null, false);
    return new Progress(this.stderr, this.stderr.isTTY === true);
  }
}

/** Go tabwriter(minwidth 0, padding 4, padchar ' ', flags 0) over tab-separated cells. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths: number[] = [];
  for (const r of all) {
    for (let i = 0; i < r.length - 1; i++) widths[i] = Math.max(widths[i] ?? 0, r[i].length);
  }
  let out = "";
  for (const r of all) {
    let line = "";
    for (let i = 0; i < r.length; i++) line += i < r.length - 1 ? r[i].padEnd(widths[i] + 4) : r[i];
    out += line + "\n";
  }
  return out;
}

/** Decimal units with four significant digits, like Go `units.HumanSize` ("12.35 MB"). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  if (u === 0) return `${bytes} B`;
  // %.4g: four significant digits, trailing zeros dropped.
  return `${Number(v.toPrecision(4))} ${units[u]}`;
}

/** "3m12s ago" style durations (Go `units.HumanDuration`-like, compact). */
export function ago(createdMs: number | undefined, nowMs = Date.now()): string {
  if (createdMs === undefined || !Number.isFinite(createdMs)) return "n/a";
  let s = Math.max(0, Math.floor((nowMs - createdMs) / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d${h}h ago`;
  if (h > 0) return `${h}h${m}m ago`;
  if (m > 0) return `${m}m${s}s ago`;
  return `${s}s ago`;
}

interface ProgressItem {
  label: string;
  total: number;
  done: number;
  startMs: number;
  finished: boolean;
}

const REDRAW_INTERVAL_MS = 100;

/**
 * Per-item byte progress. `start` an item, `update` it with the bytes done so
 * far, then `finish` (or `fail`) it; `close` when all work is over. On a TTY
 * the active items are redrawn in place at most every 100 ms; otherwise each
 * finished item prints one line.
 */
export class Progress {
  #out: Writer | null;
  #tty: boolean;
  #items = new Map<string, ProgressItem>();
  #drawnLines = 0;
  #lastDrawMs = 0;
  #now: () => number;

  constructor(out: Writer | null, tty: boolean, now: () => number = () => performance.now()) {
    this.#out = out;
    this.#tty = tty;
    this.#now = now;
  }

  start(id: string, label: string, total: number): void {
    this.#items.set(id, { label, total, done: 0, startMs: this.#now(), finished: false });
    this.#redraw(true);
  }

  update(id: string, done: number): void {
    const it = this.#items.get(id);
    if (!it) return;
    it.done = done;
    this.#redraw(false);
  }

  finish(id: string, note = ""): void {
    const it = this.#items.get(id);
    if (!it || !this.#out) return;
    it.done = it.total;
    it.finished = true;
    this.#items.delete(id);
    this.#clear();
    this.#out.write(describe(it, this.#now(), true) + (note ? ` ${note}` : "") + "\n");
    this.#redraw(true);
  }

  /** Runs `print` (which writes whole lines) with the live display cleared, then redraws it. */
  interject(print: () => void): void {
    this.#clear();
    print();
    this.#redraw(true);
  }

  /** Drops an item without a line (its error is reported elsewhere). */
  fail(id: string): void {
    this.#items.delete(id);
    this.#redraw(true);
  }

  close(): void {
    this.#clear();
    this.#items.clear();
  }

  #clear(): void {
    if (!this.#tty || !this.#out || this.#drawnLines === 0) return;
    // Up N lines, then clear to the end of the screen.
    this.#out.write(`\x1b[${this.#drawnLines}F\x1b[J`);
    this.#drawnLines = 0;
  }

  #redraw(force: boolean): void {
    if (!this.#tty || !this.#out) return;
    const now = this.#now();
    if (!force && now - this.#lastDrawMs < REDRAW_INTERVAL_MS) return;
    this.#lastDrawMs = now;
    this.#clear();
    // A terminal of unknown size (columns 0/undefined, e.g. under script(1)) gets 100.
    const cols = this.#out.columns;
    const width = cols !== undefined && cols > 20 ? cols - 1 : 100;
    let text = "";
    for (const it of this.#items.values()) text += describe(it, now, false).slice(0, width) + "\n";
    this.#out.write(text);
    this.#drawnLines = this.#items.size;
  }
}

function describe(it: ProgressItem, nowMs: number, final: boolean): string {
  const secs = Math.max((nowMs - it.startMs) / 1000, 1e-6);
  const rate = it.done / secs;
  const mbps = `${(rate / 1e6).toFixed(1)} MB/s`;
  if (final) return `${it.label}: ${humanSize(it.total)} in ${secs.toFixed(2)}s (${mbps})`;
  const pct = it.total > 0 ? Math.min(100, Math.floor((it.done / it.total) * 100)) : 100;
  const eta = rate > 0 && it.total > it.done ? `ETA ${Math.ceil((it.total - it.done) / rate)}s` : "";
  return `${it.label}  ${humanSize(it.done)}/${humanSize(it.total)} ${pct}%  ${mbps}  ${eta}`.trimEnd();
}

/**
 * Control characters other than newline and tab (which a hostile input can
 * smuggle into a message, e.g. through a JSON parser's quote of garbage) as
 * `\u00xx`, so an error never drives the terminal.
 */
export function terminalSafe(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * The error edge (STYLE §7): one line `soci: <message>`, the hint on the next
 * line, causes and stack only with --debug. Returns the exit code: 2 for a bad
 * command line, 1 for everything else.
 */
export function reportError(e: unknown, stderr: Writer, debug: boolean): number {
  const msg = e instanceof Error ? e.message : String(e);
  stderr.write(`soci: ${terminalSafe(msg)}\n`);
  if (e instanceof SociError && e.hint !== undefined) stderr.write(`hint: ${terminalSafe(e.hint)}\n`);
  else if (!(e instanceof SociError) && (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError)) {
    stderr.write("hint: This is a bug in soci-ts; rerun with --debug and report the stack trace\n");
  }
  if (debug) {
    let cur: unknown = e;
    let first = true;
    while (cur instanceof Error) {
      const stack = cur.stack ?? `${cur.name}: ${cur.message}`;
      stderr.write((first ? "" : "caused by: ") + stack + "\n");
      first = false;
      cur = cur.cause;
    }
    if (cur !== undefined && !first) stderr.write(`caused by: ${String(cur)}\n`);
  } else {
    // Without --debug, still show cause messages the top message does not already contain.
    let seen = msg;
    let cur = e instanceof Error ? e.cause : undefined;
    while (cur !== undefined) {
      const m = cur instanceof Error ? cur.message : String(cur);
      if (!seen.includes(m)) {
        stderr.write(`  caused by: ${terminalSafe(m)}\n`);
        seen += "\n" + m;
      }
      cur = cur instanceof Error ? cur.cause : undefined;
    }
  }
  return e instanceof UsageError ? 2 : 1;
}
