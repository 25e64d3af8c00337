// A tiny registry token server (real-components §1.5): the registry verifies
// the RS256 JWTs it issues, so the token flow in tests is the real one. The
// certificate comes from the openssl CLI (Node cannot make X.509); the JWT
// header carries it as `x5c`. `grant` decides which actions a user gets, so
// tests can check scope handling; every request is recorded.
import { spawnSync } from "node:child_process";
import { randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface TokenRequest {
  scopes: string[];
  account?: string;
  /** The user whose Basic credentials were valid, if any. */
  user?: string;
}

export interface TokenServerOptions {
  dir: string;
  service?: string;
  issuer?: string;
  /** user → password; requests with other credentials get 401. */
  users: Record<string, string>;
  /** Actions granted to `user` (undefined = anonymous) on `repository`; default: all asked for, to known users only. */
  grant?: (user: string | undefined, repository: string, actions: string[]) => string[];
  expiresInS?: number;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certPath: string;
  requests: TokenRequest[];
  /** Every token handed out (to check that none leaks). */
  issued: string[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export async function startTokenServer(o: TokenServerOptions): Promise<TokenServer> {
  const keyPath = join(o.dir, "token-key.pem");
  const certPath = join(o.dir, "token-cert.pem");
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath,
    "-days", "3650", "-subj", "/CN=test-token-issuer"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const key = readFileSync(keyPath, "utf8");
  const der = readFileSync(certPath, "utf8").replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const service = o.service ?? "test-registry";
  const issuer = o.issuer ?? "test-issuer";
  const grant = o.grant ?? ((user, _repo, actions) => (user === undefined ? [] : actions));
  const requests: TokenRequest[] = [];
  const issued: string[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const scopes = url.searchParams.getAll("scope");
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith("Basic ")) {
      const [u, ...rest] = Buffer.from(auth.slice(6), "base64").toString().split(":");
      if (o.users[u] === undefined || o.users[u] !== rest.join(":")) {
        res.writeHead(401, { "Content-Type": "application/json" }).end('{"details":"invalid credentials"}');
        requests.push({ scopes, account: url.searchParams.get("account") ?? undefined });
        return;
      }
      user = u;
    }
    requests.push({ scopes, account: url.searchParams.get("account") ?? undefined, user });
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = [s.slice(0, s.indexOf(":")), s.slice(s.indexOf(":") + 1, s.lastIndexOf(":")), s.slice(s.lastIndexOf(":") + 1)];
      if (type !== "repository") return [];
      const granted = grant(user, name, actions.split(","));
      return granted.length > 0 ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [der] };
    const claims = { iss: issuer, aud: service, sub: user ?? "", iat: now, nbf: now - 10, exp: now + (o.expiresInS ?? 300), jti: randomUUID(), access };
    const data = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${data}.${b64url(sign("sha256", Buffer.from(data), key))}`;
    issued.push(token);
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token, access_token: token, expires_in: o.expiresInS ?? 300 }));
  };

  const server = createServer(handle);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    requests,
    issued,
    stop: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
