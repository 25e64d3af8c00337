/** The snapshotter daemon: start/stop order, signals, logs, status (daemon.ts). */
export { runSnapshotterDaemon, startSnapshotterDaemon, daemonRegistryClient, DEFAULT_ADDRESS, DEFAULT_CONFIG_PATH, DEFAULT_ROOT, type RunningDaemon, type SnapshotterDaemonOptions } from "./daemon.ts";
export { jsonLogger, parseLogLevel, type LogFn, type LogLevel } from "./log.ts";
export { readSnapshotterStatus } from "./status.ts";
