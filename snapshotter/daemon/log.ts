/**
 * Structured logs of the snapshotter daemon: one JSON object per line on a
 * writer (stderr), `{"time","level","msg",…fields}`, below `--log-level`
 * dropped. Levels as upstream's logrus: debug, info, warn, error.
 */
import { InvalidArgumentError } from "../../core-wasm/src/errors.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function parseLogLevel(text: string): LogLevel {
  const t = text.toLowerCase() === "warning" ? "warn" : text.toLowerCase();
  if (!(t in ORDER)) throw new InvalidArgumentError(`Cannot use log level ${JSON.stringify(text)}: expected debug, info, warn or error`);
  return t as LogLevel;
}

export function jsonLogger(level: LogLevel, write: (line: string) => void): LogFn {
  return (l, msg, fields = {}) => {
    if (ORDER[l] < ORDER[level]) return;
    let line: string;
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level: l, msg, ...fields });
    } catch {
      line = JSON.stringify({ time: new Date().toISOString(), level: l, msg });
    }
    write(line + "\n");
  };
}
