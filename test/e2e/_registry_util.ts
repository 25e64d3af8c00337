// Shared by the registry_*_test.ts e2e files: push fixture layouts with
// skopeo, read a registry with raw HTTP (no soci-ts code on the checking
// side), and compare what it holds with a layout byte for byte. Not a test
// file itself (no `_test` suffix).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { blobFile, sha256 } from "./_soci_cli.ts";

/** The non-blocking CLI runner now lives in _soci_cli.ts; re-exported for the registry tests. */
export { sociAsync } from "./_soci_cli.ts";

export const ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

const skopeoArgs = (from: string, to: string, extra: string[]) => ["copy", "-q", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", ...extra, from, to];

/** `skopeo copy --all oci:LAYOUT docker://HOST/REPO:TAG` (plain HTTP); digests are kept for OCI-typed images. */
export function skopeoCopy(from: string, to: string, extra: string[] = []): void {
  const r = spawnSync("skopeo", skopeoArgs(from, to, extra), { encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, `skopeo copy ${from} ${to}: ${r.stderr}`);
}

/** `skopeoCopy` without blocking this process (a token server in the test process must keep answering). */
export function skopeoCopyAsync(from: string, to: string, extra: string[] = []): Promise<void> {
  return new Promise((ok, fail) => {
    const p = spawn("skopeo", skopeoArgs(from, to, extra), { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    p.on("error", fail);
    p.on("close", (code) => (code === 0 ? ok() : fail(new Error(`skopeo copy ${from} ${to}: exit ${code}: ${stderr}`))));
  });
}

export interface RawResponse {
  status: number;
  bytes: Uint8Array;
  headers: Headers;
}

/** A raw GET/HEAD of `/v2/<path>` with every manifest type accepted. */
export async function raw(host: string, path: string, method = "GET", headers: Record<string, string> = {}): Promise<RawResponse> {
  const res = await fetch(`http://${host}/v2/${path}`, { method, headers: { Accept: ACCEPT, ...headers } });
  const bytes = method === "HEAD" ? new Uint8Array() : new Uint8Array(await res.arrayBuffer());
  return { status: res.status, bytes, headers: res.headers };
}

export async function manifestBytes(host: string, repo: string, ref: string, headers: Record<string, string> = {}): Promise<Uint8Array> {
  const r = await raw(host, `${repo}/manifests/${ref}`, "GET", headers);
  assert.equal(r.status, 200, `GET ${repo}/manifests/${ref}: ${r.status} ${new TextDecoder().decode(r.bytes)}`);
  return r.bytes;
}

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

/**
 * Every manifest and blob reachable from `ref` in the registry, by raw GETs,
 * each checked against its digest: digest → bytes.
 */
export async function registryContent(host: string, repo: string, ref: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const visitManifest = async (digestOrTag: string): Promise<void> => {
    const bytes = await manifestBytes(host, repo, digestOrTag);
    const digest = sha256(bytes);
    if (digestOrTag.startsWith("sha256:")) assert.equal(digest, digestOrTag);
    if (out.has(digest)) return;
    out.set(digest, bytes);
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: Desc[]; config?: Desc; layers?: Desc[] };
    for (const m of doc.manifests ?? []) await visitManifest(m.digest);
    for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
      if (out.has(b.digest)) continue;
      const r = await raw(host, `${repo}/blobs/${b.digest}`);
      assert.equal(r.status, 200, `GET blob ${b.digest}: ${r.status}`);
      assert.equal(sha256(r.bytes), b.digest);
      out.set(b.digest, r.bytes);
    }
  };
  await visitManifest(ref);
  return out;
}

/** Asserts that every item of `content` is in the layout `dir` with the same bytes. */
export function assertSameAsLayout(content: Map<string, Uint8Array>, dir: string): void {
  for (const [digest, bytes] of content) {
    const file = readFileSync(blobFile(dir, digest));
    assert.ok(Buffer.from(bytes).equals(file), `blob ${digest} differs between the registry and ${dir}`);
  }
}

/** The status of HEAD `/v2/<repo>/manifests/<ref>` (404: no such tag). */
export async function tagStatus(host: string, repo: string, tag: string): Promise<number> {
  return (await raw(host, `${repo}/manifests/${tag}`, "HEAD")).status;
}
