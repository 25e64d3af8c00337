// Starts and stops a real `docker-registry serve` (distribution 2.8) on
// loopback for the registry e2e tests (real-components §1.1): its own temp dir,
// port 0 parsed from "listening on", optional htpasswd or token auth, optional
// TLS (server certificate, client certificates required when `clientCas` is
// given) with `makeTestPki` making the CA and certificates with the openssl
// CLI. Also the "skipped: <reason>" / CI=true rule for missing tools (STYLE §8).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

export interface RegistryOptions {
  /** Serve HTTPS with this certificate; `clientCas` makes client certificates mandatory. */
  tls?: { certificate: string; key: string; clientCas?: string[] };
  /**
   * Write the registry's log to this file instead of a pipe: for callers that
   * block (bench/registry runs hyperfine synchronously and could not drain a pipe).
   */
  logFile?: string;
}

/** A throwaway PKI: a CA, a server certificate for IP 127.0.0.1, a client certificate (all PEM files). */
export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Client certificate and key in one file. */
  clientPem: string;
}

export function makeTestPki(dir: string): TestPki {
  const f = (n: string) => join(dir, n);
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(["req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "3650", "-subj", "/CN=soci-ts test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const issue = (name: string, cn: string, ext: string) => {
    run(["req", ...ec, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=${cn}`]);
    writeFileSync(f(`${name}.ext`), ext);
    run(["x509", "-req", "-in", f(`${name}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
      "-out", f(`${name}.pem`), "-days", "3650", "-extfile", f(`${name}.ext`)]);
  };
  issue("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  issue("client", "soci-ts test client", "extendedKeyUsage=clientAuth\n");
  writeFileSync(f("client-both.pem"), readFileSync(f("client.pem"), "utf8") + readFileSync(f("client.key"), "utf8"));
  return { ca: f("ca.pem"), serverCert: f("server.pem"), serverKey: f("server.key"), clientCert: f("client.pem"), clientKey: f("client.key"), clientPem: f("client-both.pem") };
}

export async function startRegistry(auth?: RegistryAuth, options: RegistryOptions = {}): Promise<RunningRegistry> {
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
  let tlsYaml = "";
  if (options.tls) {
    const t = options.tls;
    tlsYaml = `  tls:\n    certificate: ${t.certificate}\n    key: ${t.key}\n`;
    if (t.clientCas && t.clientCas.length > 0) tlsYaml += `    clientcas:\n${t.clientCas.map((c) => `      - ${c}\n`).join("")}`;
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
${tlsYaml}${authYaml}`;
  writeFileSync(join(dir, "config.yml"), config);
  const logFile = options.logFile;
  const logFd = logFile === undefined ? undefined : openSync(logFile, "w");
  const p: ChildProcess = spawn("docker-registry", ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", logFd ?? "pipe"] });
  if (logFd !== undefined) closeSync(logFd); // the child has its own copy
  let buf = "";
  const listening = () => /listening on 127\.0\.0\.1:(\d+)/.exec(logFile === undefined ? buf : readFileSync(logFile, "utf8"));
  const port = await new Promise<number>((ok, fail) => {
    const onExit = (c: number | null) => {
      clearInterval(poll);
      fail(new Error(`docker-registry exited ${c}\n${logFile === undefined ? buf : readFileSync(logFile, "utf8")}`));
    };
    const found = () => {
      const m = listening();
      if (!m) return;
      clearInterval(poll);
      p.off("exit", onExit);
      ok(Number(m[1]));
    };
    // A log file is polled; a pipe is read as it comes.
    const poll = logFile === undefined ? undefined : setInterval(found, 25);
    p.stderr?.on("data", (b: Buffer) => {
      buf += b.toString();
      found();
    });
    p.once("exit", onExit);
  });
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    log: () => (logFile === undefined ? buf : readFileSync(logFile, "utf8")),
    async stop() {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill("SIGTERM");
        await once(p, "exit");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
