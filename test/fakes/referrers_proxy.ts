// A loopback proxy that gives a real docker-registry 2.8 (which lacks it) the
// OCI 1.1 referrers API, so both sides of the client's referrers logic run
// against real storage (formats §7.5; real-components §1.3):
//
// * `PUT /v2/<name>/manifests/<ref>` is forwarded; when the registry stores a
//   manifest that has a `subject`, the proxy records it as a referrer and
//   answers with `OCI-Subject: <subject digest>`, as a 1.1 registry does;
// * `GET /v2/<name>/referrers/<digest>[?artifactType=…]` answers an OCI index
//   of the recorded referrers (filtered, with `OCI-Filters-Applied`);
// * everything else passes through untouched (Host kept, so upload Locations
//   point back at the proxy). Every request is logged (method and path).
//
// Referrers pushed straight to the registry (not through the proxy) are not
// seen. Not a fault injector: see fault_proxy.ts.
import { createHash } from "node:crypto";
import { request, type IncomingMessage, type ServerResponse } from "node:http";
import { LoopbackServer } from "./fault_proxy.ts";

interface Referrer {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export class ReferrersProxy {
  /** `METHOD path` of every request, in order. */
  readonly log: string[] = [];
  /** `<name>@<subject digest>` → referrers, in push order. */
  readonly referrers = new Map<string, Referrer[]>();
  #server: LoopbackServer;
  #upstream: URL;

  private constructor(upstream: URL) {
    this.#upstream = upstream;
    this.#server = new LoopbackServer((req, res) => this.#handle(req, res));
  }

  /** Starts on 127.0.0.1, port 0, in front of `upstream` (`http://host:port`). */
  static async start(upstream: string): Promise<ReferrersProxy> {
    const p = new ReferrersProxy(new URL(upstream));
    await p.#server.listen();
    return p;
  }

  get host(): string {
    return this.#server.host;
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    this.log.push(`${req.method} ${req.url}`);
    const referrers = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (req.method === "GET" && referrers) {
      const all = this.referrers.get(`${referrers[1]}@${referrers[2]}`) ?? [];
      const type = url.searchParams.get("artifactType");
      const manifests = type === null ? all : all.filter((r) => r.artifactType === type);
      const headers: Record<string, string> = { "Content-Type": "application/vnd.oci.image.index.v1+json" };
      if (type !== null) headers["OCI-Filters-Applied"] = "artifactType";
      res.writeHead(200, headers).end(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
      return;
    }
    const manifestPut = req.method === "PUT" ? /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(url.pathname) : null;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const up = request(
        { host: this.#upstream.hostname, port: this.#upstream.port, method: req.method, path: req.url, headers: req.headers },
        (ur) => {
          const headers = { ...ur.headers };
          if (manifestPut && ur.statusCode === 201) {
            const subject = this.#record(manifestPut[1], body, String(req.headers["content-type"] ?? ""));
            if (subject !== undefined) headers["oci-subject"] = subject;
          }
          res.writeHead(ur.statusCode ?? 502, headers);
          ur.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      up.end(body);
    });
  }

  /** Records a stored manifest with a subject; returns the subject digest. */
  #record(name: string, body: Buffer, mediaType: string): string | undefined {
    let m: { subject?: { digest?: string }; artifactType?: string; config?: { mediaType?: string }; annotations?: Record<string, string> };
    try {
      m = JSON.parse(body.toString("utf8"));
    } catch {
      return undefined;
    }
    const subject = m.subject?.digest;
    if (typeof subject !== "string") return undefined;
    const digest = "sha256:" + createHash("sha256").update(body).digest("hex");
    const r: Referrer = { mediaType, digest, size: body.length };
    const artifactType = m.artifactType ?? m.config?.mediaType;
    if (artifactType) r.artifactType = artifactType;
    if (m.annotations) r.annotations = m.annotations;
    const key = `${name}@${subject}`;
    const list = this.referrers.get(key) ?? [];
    if (!list.some((x) => x.digest === digest)) list.push(r);
    this.referrers.set(key, list);
    return subject;
  }
}
