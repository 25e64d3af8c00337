// Starts and stops a real `docker-registry serve` (distribution 2.8) on
// loopback for the registry e2e tests (real-components §1.1): its own temp dir,
// port 0 parsed from "listening on", optional htpasswd or token auth. Also the
// "skipped: <reason>" / CI=true rule for missing tools (STYLE §8).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A skip reason when a tool is missing, or null; under CI=true a missing tool throws. */
export function missingTools(tools: string[]): string | null {
  const absent = tools.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
  if (absent.length === 0) return null;
  const why = `missing ${absent.join(", ")}`;
  if (process.env.CI === "true") throw new Error(`${why} (required under CI=true)`);
  return why;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export type RegistryAuth =
  | { htpasswd: { username: string; password: string } }
  | { token: { realm: string; service: string; issuer: string; certPath: string } };

export interface RunningRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  port: number;
  dir: string;
  /** Everything the registry logged (for failure messages). */
  log: () => string;
  stop(): Promise<void>;
}

export async function startRegistry(auth?: RegistryAuth): Promise<RunningRegistry> {
  const dir = tempDir("soci-registry-");
  let authYaml = "";
  if (auth && "htpasswd" in auth) {
    const r = spawnSync("htpasswd", ["-Bbn", auth.htpasswd.username, auth.htpasswd.password], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    writeFileSync(join(dir, "htpasswd"), r.stdout); // written first: 2.8 invents a user when the file is missing
    authYaml = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${join(dir, "htpasswd")}\n`;
  } else if (auth && "token" in auth) {
    const t = auth.token;
    authYaml = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.certPath}\n`;
  }
  const config = `version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, "data")}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:0
  secret: soci-ts-test-secret
${authYaml}`;
  writeFileSync(join(dir, "config.yml"), config);
  const p: ChildProcess = spawn("docker-registry", ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
  let buf = "";
  const port = await new Promise<number>((ok, fail) => {
    const onExit = (c: number | null) => fail(new Error(`docker-registry exited ${c}\n${buf}`));
    p.stderr!.on("data", (b: Buffer) => {
      buf += b.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(buf);
      if (m) {
        p.off("exit", onExit);
        ok(Number(m[1]));
      }
    });
    p.once("exit", onExit);
  });
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    log: () => buf,
    async stop() {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill("SIGTERM");
        await once(p, "exit");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
