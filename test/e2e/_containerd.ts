/**
 * Real containerd 1.6 + our snapshotter for the e2e tests (real-components
 * §4.1, snapshotter §16.4): a private containerd (own root/state/sockets,
 * CRI off unless asked for, `[proxy_plugins.soci]` at our socket), our daemon started as
 * `node dist/soci.mjs snapshotter` with its own root and config, `ctr` and
 * `soci image rpull` run as async child processes, and a teardown that stops
 * both daemons, unmounts whatever is left under the scratch directory and
 * removes containerd's per-namespace runc state.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BUNDLE, missingTools } from "./_soci_cli.ts";

const exec = promisify(execFile);

/**
 * Why `test` cannot run containerd + our snapshotter here ("needs root", a
 * missing tool…), or false. Under CI=true a missing prerequisite throws: a
 * failure, never a skip.
 */
export function containerdSkipReason(test: string): string | false {
  const why: string[] = [];
  if (process.getuid?.() !== 0) why.push("needs root");
  if (!existsSync("/dev/fuse")) why.push("needs /dev/fuse");
  const tools = missingTools(["containerd", "ctr", "runc", "docker-registry"], test);
  if (tools) why.push(tools);
  if (why.length === 0) return false;
  if (process.env.CI === "true") throw new Error(`${test}: ${why.join("; ")} (required under CI=true)`);
  return why.join("; ");
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking this process; never throws for a non-zero exit. */
export async function runAsync(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  try {
    const r = await exec(cmd, args, { timeout: opts.timeoutMs ?? 300_000, maxBuffer: 1 << 26, ...(opts.env ? { env: opts.env } : {}) });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof x.code === "number" ? x.code : 1, stdout: x.stdout ?? "", stderr: (x.stderr ?? "") + (typeof x.code === "number" ? "" : x.message) };
  }
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class Containerd {
  proc?: ChildProcess;
  readonly sock: string;
  readonly sociSock: string;
  /**
   * `cri`: also serve Kubernetes' CRI on the same socket, pulling with our
   * snapshotter and passing the layer labels (snapshotter §14:
   * `snapshotter = "soci"`, `disable_snapshot_annotations = false`), registry
   * hosts from `cri.hostsDir` (containerd's hosts.toml layout), CNI dirs private.
   */
  constructor(readonly dir: string, opts: { cri?: { hostsDir: string } } = {}) {
    this.sock = join(dir, "containerd.sock");
    this.sociSock = join(dir, "soci.sock");
    mkdirSync(dir, { recursive: true });
    const cri = opts.cri
      ? `[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "soci"
    disable_snapshot_annotations = false
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${opts.cri.hostsDir}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/net.d"
`
      : "";
    writeFileSync(
      join(dir, "config.toml"),
      `version = 2
root = "${dir}/root"
state = "${dir}/state"
${opts.cri ? "" : 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'}
${cri}[grpc]
  address = "${this.sock}"
[ttrpc]
  address = "${this.sock}.ttrpc"
[debug]
  address = "${dir}/debug.sock"
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[proxy_plugins]
  [proxy_plugins.soci]
    type = "snapshot"
    address = "${this.sociSock}"
`,
    );
  }
  async start(): Promise<void> {
    this.proc = spawn("containerd", ["--config", join(this.dir, "config.toml")], { stdio: ["ignore", "ignore", "ignore"] });
    await waitFor("containerd", async () => existsSync(this.sock) && (await runAsync("ctr", ["--address", this.sock, "version"])).code === 0);
  }
  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      p.kill("SIGTERM");
      await once(p, "exit");
    }
    this.proc = undefined;
  }
  /**
   * Waits until containerd's connection to the snapshotter works again: after
   * the snapshotter dies, grpc-go fails calls fast while its channel backs off
   * (the first `ctr run` answered "failed to write client preface: broken pipe"),
   * and it dials at start, so a snapshotter started later meets the same backoff.
   * Probes with a Prepare (which reaches the snapshotter) and removes it.
   */
  async waitSnapshotter(ns: string): Promise<void> {
    const probe = `probe-${process.pid}-${Date.now()}`;
    await waitFor("containerd to reach the snapshotter", async () => (await this.ctr(ns, "snapshots", "--snapshotter", "soci", "prepare", probe)).code === 0, 30_000);
    await this.ctr(ns, "snapshots", "--snapshotter", "soci", "rm", probe);
  }
  ctr(ns: string, ...args: string[]): Promise<Ran> {
    return runAsync("ctr", ["--address", this.sock, "-n", ns, ...args], { timeoutMs: 300_000 });
  }
}

export class SociDaemon {
  proc?: ChildProcess;
  logPath: string;
  constructor(readonly root: string, readonly address: string, readonly config: string) {
    this.logPath = `${root}.log`;
    mkdirSync(root, { recursive: true });
  }
  async start(program: string[] = [process.execPath, BUNDLE]): Promise<void> {
    const log = `${this.logPath}`;
    writeFileSync(log, "");
    const [cmd, ...pre] = program;
    this.proc = spawn(cmd!, [...pre, "snapshotter", "--address", this.address, "--root", this.root, "--config", this.config, "--log-level", "debug"], { stdio: ["ignore", "ignore", "pipe"] });
    this.proc.stderr!.on("data", (b: Buffer) => writeFileSync(log, b, { flag: "a" }));
    const p = this.proc;
    await waitFor("the snapshotter to serve", () => {
      if (p.exitCode !== null) throw new Error(`snapshotter exited ${p.exitCode}: ${readFileSync(log, "utf8")}`);
      return readFileSync(log, "utf8").includes('"soci snapshotter serving"');
    }, 60_000);
  }
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      p.kill(signal);
      await once(p, "exit");
    }
    this.proc = undefined;
  }
  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "utf8") : "";
  }
  status(): { images: Array<{ ref: string; layers: Array<{ digest: string; mode: string; reason: string; bytesFetched: number; size: number }> }> } {
    return JSON.parse(readFileSync(join(this.root, "status.json"), "utf8"));
  }
}

/** `soci image rpull` against the private containerd (async), JSON result. */
export async function rpullJson(c: Containerd, ns: string, ref: string): Promise<{ ran: Ran; result?: { layers: Array<{ mode: string; bytesFetched: number; size: number }>; bytesFetched: number } }> {
  const ran = await runAsync(process.execPath, [BUNDLE, "--json", "image", "rpull", "--address", c.sock, "-n", ns, ref], { timeoutMs: 300_000 });
  return { ran, ...(ran.code === 0 ? { result: JSON.parse(ran.stdout) } : {}) };
}

/** Mount points under `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(dir + "/")))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything under `dir` (lazy detach for busy ones), removes runc state of `namespaces`, then `dir`. */
export async function teardown(dir: string, namespaces: string[]): Promise<void> {
  for (const m of mountsUnder(dir)) {
    if ((await runAsync("umount", [m])).code !== 0) await runAsync("umount", ["-l", m]);
  }
  for (const ns of namespaces) rmSync(join("/run/containerd/runc", ns), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
