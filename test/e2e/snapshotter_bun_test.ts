// The snapshotter daemon from the bundle under Bun (node_modules/.bin/bun
// dist/soci.mjs) and as the Bun-compiled binary (dist/soci): grpc-js and the
// embedded protobuf schema must work there too. A Node gRPC client drives
// Prepare/Commit/Stat/List/Remove over the unix socket, then SIGINT stops the
// daemon cleanly. No root needed (nothing is mounted).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { snapshotsClient } from "../../snapshotter/grpc/test_client.ts";
import { BUNDLE, buildCliAndFixtures, ROOT, tempDir } from "./_soci_cli.ts";

const BUN = join(ROOT, "node_modules", ".bin", "bun");
const BINARY = join(ROOT, "dist", "soci");
let dir: string;
before(() => {
  buildCliAndFixtures([]);
  dir = tempDir("soci-bun-snap-");
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function exercise(name: string, argv: string[]): Promise<void> {
  const sock = join(dir, `${name}.sock`);
  const root = join(dir, name);
  let log = "";
  const p = spawn(argv[0]!, [...argv.slice(1), "snapshotter", "--address", `unix://${sock}`, "--root", root, "--config", join(dir, "none.toml")], { stdio: ["ignore", "ignore", "pipe"] });
  // An explicit --config that does not exist must fail: first check that, then start without it.
  await once(p, "exit");
  assert.notEqual(p.exitCode, 0);
  const q = spawn(argv[0]!, [...argv.slice(1), "snapshotter", "--address", `unix://${sock}`, "--root", root, "--log-level", "debug"], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, SOCI_SNAPSHOTTER_CONFIG: "" } });
  q.stderr!.on("data", (b: Buffer) => (log += b.toString()));
  const end = Date.now() + 30_000;
  while (!log.includes('"soci snapshotter serving"')) {
    if (q.exitCode !== null || Date.now() > end) assert.fail(`${name}: the snapshotter did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const c = snapshotsClient(sock, "bun");
  try {
    const m = await c.call("Prepare", { key: "a", parent: "", labels: { x: "1" } });
    assert.equal(m.mounts[0].type, "bind");
    await c.call("Commit", { name: "base", key: "a" });
    await c.call("Prepare", { key: "b", parent: "base" });
    assert.equal((await c.call("Stat", { key: "b" })).info.parent, "base");
    assert.deepEqual((await c.list(["kind==committed"])).map((i) => i.name), ["base"]);
    await assert.rejects(c.call("Remove", { key: "base" }), (e: { code?: number }) => e.code === 9);
    await c.call("Remove", { key: "b" });
    await c.call("Cleanup", {});
  } finally {
    c.close();
  }
  q.kill("SIGINT");
  await once(q, "exit");
  assert.equal(q.exitCode, 0, log);
  assert.match(log, /"soci snapshotter stopped"/);
  assert.equal(existsSync(sock), false, "the socket is removed at exit");
  assert.ok(JSON.parse(readFileSync(join(root, "status.json"), "utf8")).pid > 0);
}

test("the snapshotter serves gRPC under Bun from the bundle", async () => {
  await exercise("bun-bundle", [BUN, BUNDLE]);
});

test("the snapshotter serves gRPC from the Bun-compiled binary", async () => {
  await exercise("binary", [BINARY]);
});
