// A loopback HTTP proxy in front of a real registry that injects faults on
// demand: a connection dropped mid-body, an error status (500, 429 with
// Retry-After, …), a cleanly truncated body, wrong bytes, or a response held
// back longer than the client's timeout. Rules match by method and path and
// fire a set number of times; everything else passes through untouched. The
// Host header is passed on as is, so the registry's upload Locations point
// back at the proxy. Every request is logged (method, path, Range, outcome)
// so tests can check retries and Range resumes.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  /** Forward headers and `afterBytes` body bytes, then cut the connection. */
  | { kind: "drop"; afterBytes: number }
  /** Answer with this status instead of forwarding (the request body is drained). */
  | { kind: "status"; status: number; retryAfter?: string; body?: string; headers?: Record<string, string> }
  /** Forward only the first `bytes` body bytes, with Content-Length saying so: a clean, short response. */
  | { kind: "truncate"; bytes: number }
  /** Forward the body with one byte flipped (same length). */
  | { kind: "corrupt"; at?: number }
  /** Hold the response headers back this long. */
  | { kind: "delay"; ms: number }
  /** Forward headers and `afterBytes` body bytes, then pause the body for `ms`. */
  | { kind: "stall"; afterBytes: number; ms: number };

export interface FaultRule {
  method?: string;
  /** Substring or pattern of the request path (with query). */
  path?: string | RegExp;
  fault: Fault;
  /** How many matching requests get the fault (default 1). */
  times?: number;
}

export interface ProxyLogEntry {
  method: string;
  path: string;
  range?: string;
  fault?: Fault["kind"];
  status?: number;
}

/** An HTTP server on 127.0.0.1, port 0: the listening part of the test proxies (this one, referrers_proxy.ts). */
export class LoopbackServer {
  #server: Server;
  #port = 0;

  constructor(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    this.#server = createServer(handler);
  }

  async listen(): Promise<void> {
    await new Promise<void>((ok) => this.#server.listen(0, "127.0.0.1", ok));
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** `127.0.0.1:<port>` */
  get host(): string {
    return `127.0.0.1:${this.#port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((ok) => this.#server.close(() => ok()));
  }
}

export class FaultProxy {
  readonly log: ProxyLogEntry[] = [];
  /** Most requests open at once since the last reset (for concurrency limits). */
  peakInFlight = 0;
  #inFlight = 0;
  #rules: (FaultRule & { left: number })[] = [];
  #server: LoopbackServer;
  #upstream: URL;

  private constructor(upstream: URL) {
    this.#upstream = upstream;
    this.#server = new LoopbackServer((req, res) => this.#handle(req, res));
  }

  /** Starts on 127.0.0.1, port 0, forwarding to `upstream` (`http://host:port`). */
  static async start(upstream: string): Promise<FaultProxy> {
    const p = new FaultProxy(new URL(upstream));
    await p.#server.listen();
    return p;
  }

  get host(): string {
    return this.#server.host;
  }

  inject(rule: FaultRule): void {
    this.#rules.push({ ...rule, left: rule.times ?? 1 });
  }

  /** Drops all rules and the log. */
  reset(): void {
    this.#rules = [];
    this.log.length = 0;
    this.peakInFlight = 0;
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }

  #take(req: IncomingMessage): Fault | undefined {
    const path = req.url ?? "/";
    const rule = this.#rules.find(
      (r) => r.left > 0 && (r.method === undefined || r.method === req.method) &&
        (r.path === undefined || (typeof r.path === "string" ? path.includes(r.path) : r.path.test(path))),
    );
    if (rule === undefined) return undefined;
    rule.left--;
    return rule.fault;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.peakInFlight = Math.max(this.peakInFlight, ++this.#inFlight);
    res.once("close", () => this.#inFlight--);
    const fault = this.#take(req);
    const entry: ProxyLogEntry = { method: req.method ?? "", path: req.url ?? "/", range: req.headers.range, fault: fault?.kind };
    this.log.push(entry);
    if (fault?.kind === "status") {
      req.resume();
      req.on("end", () => {
        entry.status = fault.status;
        const headers: Record<string, string> = { "Content-Type": "application/json" };
        if (fault.retryAfter !== undefined) headers["Retry-After"] = fault.retryAfter;
        Object.assign(headers, fault.headers);
        res.writeHead(fault.status, headers).end(fault.body ?? `{"errors":[{"code":"UNKNOWN","message":"injected ${fault.status}"}]}`);
      });
      return;
    }
    const up = request(
      { host: this.#upstream.hostname, port: this.#upstream.port, method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        entry.status = ur.statusCode;
        const go = () => this.#relay(ur, res, fault);
        if (fault?.kind === "delay") setTimeout(go, fault.ms);
        else go();
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  }

  #relay(ur: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void {
    if (res.destroyed) {
      ur.destroy();
      return;
    }
    const headers = { ...ur.headers };
    if (fault?.kind === "truncate") headers["content-length"] = String(Math.min(fault.bytes, Number(headers["content-length"] ?? fault.bytes)));
    res.writeHead(ur.statusCode ?? 502, headers);
    let sent = 0;
    ur.on("data", (chunk: Buffer) => {
      if (fault?.kind === "drop" || fault?.kind === "truncate") {
        const limit = fault.kind === "drop" ? fault.afterBytes : fault.bytes;
        const n = Math.min(chunk.length, limit - sent);
        if (n > 0) res.write(chunk.subarray(0, n));
        sent += n;
        if (sent >= limit) {
          ur.destroy();
          if (fault.kind === "drop") res.socket?.destroy();
          else res.end();
        }
        return;
      }
      if (fault?.kind === "stall" && sent < fault.afterBytes && sent + chunk.length >= fault.afterBytes) {
        const n = fault.afterBytes - sent;
        res.write(chunk.subarray(0, n));
        sent += chunk.length;
        ur.pause();
        setTimeout(() => {
          if (res.destroyed) return ur.destroy();
          res.write(chunk.subarray(n));
          ur.resume();
        }, fault.ms);
        return;
      }
      if (fault?.kind === "corrupt") {
        const at = (fault.at ?? 0) - sent;
        if (at >= 0 && at < chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[at] ^= 0xff;
        }
      }
      sent += chunk.length;
      res.write(chunk);
    });
    ur.on("end", () => {
      if (!res.writableEnded) res.end();
    });
    ur.on("error", () => res.destroy());
  }
}
