import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { mountOverlay } from "./overlay.ts";
import { selfCommand } from "./spawn.ts";
import { defaultMountRoot, isAlive, MountDir, readStateAt } from "./state_dir.ts";

const dir = mkdtempSync(join(tmpdir(), "soci-mountdir-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("MountDir derives a stable 16-hex id from the absolute target", () => {
  const a = new MountDir(dir, "/mnt/app");
  const b = new MountDir(join(dir, "."), "/mnt/../mnt/app/");
  assert.match(a.id, /^[0-9a-f]{16}$/);
  assert.equal(a.id, b.id);
  assert.notEqual(a.id, new MountDir(dir, "/mnt/other").id);
  assert.equal(a.lowerDir(3), join(dir, "mounts", a.id, "l", "3"));
  assert.equal(a.logPath, join(dir, "logs", `${a.id}.log`));
});

test("state and status files are written whole and read back; missing ones read as null", async () => {
  const md = new MountDir(dir, "/mnt/state");
  assert.equal(await md.readState(), null);
  const { mkdir } = await import("node:fs/promises");
  await mkdir(md.dir, { recursive: true });
  const state = { version: 1 as const, pid: 42, target: md.target, image: "oci:/x", fuseMounts: ["/a"], startedAt: "t" };
  await md.writeState(state);
  assert.deepEqual(await readStateAt(md.dir), state);
  assert.deepEqual(readdirSync(md.dir), ["state.json"], "no temp file left");
});

test("isAlive() is true for this process, false for an exited one", () => {
  assert.equal(isAlive(process.pid), true);
  const r = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  assert.equal(isAlive(Number(r.stdout.trim())), false);
});

test("selfCommand() starts a bundle with this runtime, a single binary as itself, SOCI_PROGRAM first", () => {
  assert.deepEqual(selfCommand(new URL("file:///opt/soci/dist/soci.mjs"), {}), [process.execPath, "/opt/soci/dist/soci.mjs"]);
  assert.deepEqual(selfCommand(new URL("file:///$bunfs/root/soci"), {}), [process.execPath]);
  assert.deepEqual(selfCommand(undefined, { SOCI_PROGRAM: "/usr/local/bin/soci" }), ["/usr/local/bin/soci"]);
  assert.deepEqual(selfCommand(undefined, { SOCI_PROGRAM: "/x/soci.mjs" }), [process.execPath, "/x/soci.mjs"]);
  assert.equal(selfCommand(undefined, {}), null);
});

test("defaultMountRoot() is /var/lib/soci-ts/mounts as root, else under XDG_DATA_HOME", () => {
  const r = defaultMountRoot({ XDG_DATA_HOME: "/data", HOME: "/home/u" });
  assert.equal(r, process.getuid?.() === 0 ? "/var/lib/soci-ts/mounts" : "/data/soci/mounts");
});

test("mountOverlay() refuses an option string over the 4096-byte mount limit before calling mount", async () => {
  const lowers = Array.from({ length: 2000 }, (_, i) => `l/${i}`);
  await assert.rejects(mountOverlay(join(dir, "nowhere"), lowers, dir), /option string \(limit 4096\)/);
  await assert.rejects(mountOverlay(join(dir, "nowhere"), ["l/0"], dir), RangeError);
});
