#!/usr/bin/env node
// bench/mount: lazy `soci mount` against "pull everything, then unpack", in
// one run, from the same loopback docker-registry 2.8 (images converted with
// `soci convert --min-layer-size 0` and pushed there first):
//   first byte  big-layer: time until the first byte of a file deep in the
//               55 MB layer (data/d15/blob.bin) is read — `soci mount` + head -c1,
//               vs `skopeo copy docker://… oci:DIR` + `tar -xzf` of every layer + head -c1;
//   chroot      debian-python: `chroot DIR python3 -c 'import json'`, same two ways,
//               with the bytes each fetched;
//   sequential  a 192 MiB file (random + text, gzip ~2:1) in its own image:
//               `dd bs=1M` through the mount, cold (empty span cache) and warm
//               (remounted, same --root: spans from the disk cache, page cache dropped).
// Targets: first byte ≥ 10× sooner than the full pull; cold sequential read
// ≥ 150 MB/s. Every lazy run starts from an empty --root (cold cache).
// First byte and chroot are also measured through a throttled link
// (throttle.mjs: 1 Gbit/s and 100 Mbit/s, 20 ms per new connection), where
// the full pull pays for every byte as it would over a network.
//
//   node bench/mount/run.mjs [--runs N] [--links 0,1000,100]   (Mbit/s; 0 = loopback)
//
// Needs root, /dev/fuse, overlayfs, docker-registry, skopeo, pigz; builds dist/.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ROOT, writeResults } from "../lib.mjs";

const args = process.argv.slice(2);
const runs = Number(args.includes("--runs") ? args[args.indexOf("--runs") + 1] : "3");
const links = (args.includes("--links") ? args[args.indexOf("--links") + 1] : "0,1000,100").split(",").map(Number);
const work = join(ROOT, ".build", "bench-mount");
const sh = (cmd) => execFileSync("sh", ["-c", cmd], { encoding: "utf8", maxBuffer: 1 << 26 });
if (existsSync(work)) sh(`grep ${work} /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l`);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });
execFileSync(join(ROOT, "scripts", "make_fixtures.sh"), ["-q", "big-layer", "debian-python"], { stdio: "inherit" });
const SOCI = join(ROOT, "dist", "soci"); // the single binary: it also starts its own daemon
const images = join(ROOT, ".build", "fixtures", "images");
const home = join(work, "home");
mkdirSync(home, { recursive: true });
const env = `HOME=${home} XDG_DATA_HOME=${home}/share`;
const soci = (a) => sh(`env ${env} ${SOCI} --store ${home}/store ${a}`);
const now = () => performance.now() / 1000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dropCaches = () => sh("sync; echo 3 > /proc/sys/vm/drop_caches");

/** A docker-registry on 127.0.0.1:0 (real-components §1.1); logs to a file. */
async function startRegistry(dir) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.yml"), `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\nhttp:\n  addr: 127.0.0.1:0\n  secret: soci-ts-bench\n`);
  const log = join(dir, "registry.log");
  const p = spawn("docker-registry", ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", openSync(log, "w")] });
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(readFileSync(log, "utf8"));
    if (m) return { host: `127.0.0.1:${m[1]}`, stop: () => p.kill("SIGTERM") };
  }
  throw new Error(`docker-registry did not start:\n${readFileSync(log, "utf8")}`);
}

/** throttle.mjs in front of `host` at `mbps` Mbit/s; returns its host and a stop function. */
async function startThrottle(host, mbps) {
  const p = spawn(process.execPath, [join(ROOT, "bench", "mount", "throttle.mjs"), host.split(":")[1], String((mbps * 1e6) / 8), "20"], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((ok, fail) => {
    p.stdout.once("data", (b) => ok(/:(\d+)/.exec(b.toString())[1]));
    p.once("exit", (c) => fail(new Error(`throttle exited ${c}`)));
  });
  return { host: `127.0.0.1:${port}`, stop: () => p.kill("SIGTERM") };
}

/** An OCI layout with one gzip layer holding `big.bin` (192 MiB: 1 MiB random + 2 MiB text, repeated). */
function bigFileLayout(dir) {
  const src = join(work, "bigfile-src");
  mkdirSync(src, { recursive: true });
  const text = Buffer.from(Array.from({ length: 40000 }, (_, i) => `${i} INFO request served path=/api/v1/items/${i % 977} status=200 ms=${i % 97}\n`).join("")).subarray(0, 2 << 20);
  const fd = openSync(join(src, "big.bin"), "w");
  for (let i = 0; i < 64; i++) {
    writeFileSync(fd, randomBytes(1 << 20));
    writeFileSync(fd, text);
  }
  sh(`tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 -C ${src} -cf - big.bin | pigz -6 > ${work}/big.tar.gz`);
  const blob = readFileSync(join(work, "big.tar.gz"));
  const put = (b) => {
    const d = createHash("sha256").update(b).digest("hex");
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    writeFileSync(join(dir, "blobs", "sha256", d), b);
    return { digest: `sha256:${d}`, size: b.length };
  };
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: {} }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...put(config) }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...put(blob) }] }));
  writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...put(manifest), annotations: { "org.opencontainers.image.ref.name": "latest" } }] }));
  rmSync(src, { recursive: true, force: true });
  return blob.length;
}

let mountN = 0;
/** Mounts `ref` lazily on a fresh dir; `root` defaults to a fresh (cold) one. */
function lazyMount(ref, root = join(work, `root-${mountN}`)) {
  const dir = join(work, `mnt-${mountN++}`);
  mkdirSync(dir, { recursive: true });
  soci(`mount -q --root ${root} ${ref} ${dir}`);
  return { dir, root, stats: () => JSON.parse(soci(`mount --root ${root} --stats --json ${dir}`)), umount: () => soci(`umount --root ${root} ${dir}`) };
}

/** skopeo copy to a fresh layout + tar -xzf of each layer in order; returns the rootfs dir. */
function fullPull(ref) {
  const n = mountN++;
  const layout = join(work, `pull-${n}`);
  const rootfs = join(work, `rootfs-${n}`);
  sh(`env ${env} skopeo copy -q --src-tls-verify=false docker://${ref} oci:${layout}:1`);
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
  const m = JSON.parse(readFileSync(join(layout, "blobs", "sha256", index.manifests[0].digest.slice(7)), "utf8"));
  mkdirSync(rootfs);
  for (const l of m.layers) sh(`tar -xzf ${join(layout, "blobs", "sha256", l.digest.slice(7))} -C ${rootfs}`);
  return { dir: rootfs, bytes: m.layers.reduce((a, l) => a + l.size, 0), cleanup: () => rmSync(join(work, `pull-${n}`), { recursive: true, force: true }) || rmSync(rootfs, { recursive: true, force: true }) };
}

const load = () => Math.round(loadavg()[0] * 100) / 100;
const results = { runs, load: { start: load() } };
const reg = await startRegistry(join(work, "registry"));
try {
  const big = `${reg.host}/big-layer:soci`;
  const py = `${reg.host}/debian-python:soci`;
  const seq = `${reg.host}/bigfile:soci`;
  soci(`convert -q --min-layer-size 0 ${join(images, "big-layer")} ${big}`);
  soci(`convert -q --min-layer-size 0 ${join(images, "debian-python")} ${py}`);
  const bigLayout = join(work, "bigfile-layout");
  const seqBlob = bigFileLayout(bigLayout);
  soci(`convert -q --min-layer-size 0 ${bigLayout} ${seq}`);
  const deep = "data/d15/blob.bin";

  /** First byte (big-layer) and chroot (debian-python), lazy vs full, with images served from `host`. */
  const measure = (host) => {
    const fb = { lazy: [], full: [], lazyBytes: [], fullBytes: 0 };
    const ch = { lazy: [], full: [], lazyBytes: [], fullBytes: 0 };
    for (let i = 0; i < runs; i++) {
      dropCaches();
      let t = now();
      let m = lazyMount(`${host}/big-layer:soci`);
      sh(`head -c1 ${m.dir}/${deep} > /dev/null`);
      fb.lazy.push(now() - t);
      fb.lazyBytes.push(m.stats().layers.reduce((a, l) => a + l.bytesFetched, 0));
      m.umount();
      t = now();
      let f = fullPull(`${host}/big-layer:soci`);
      sh(`head -c1 ${f.dir}/${deep} > /dev/null`);
      fb.full.push(now() - t);
      fb.fullBytes = f.bytes;
      f.cleanup();

      dropCaches();
      t = now();
      m = lazyMount(`${host}/debian-python:soci`);
      sh(`chroot ${m.dir} python3 -c 'import json'`);
      ch.lazy.push(now() - t);
      ch.lazyBytes.push(m.stats().layers.reduce((a, l) => a + l.bytesFetched, 0));
      m.umount();
      t = now();
      f = fullPull(`${host}/debian-python:soci`);
      sh(`chroot ${f.dir} python3 -c 'import json'`);
      ch.full.push(now() - t);
      ch.fullBytes = f.bytes;
      f.cleanup();
    }
    const summary = (x) => ({ lazy: median(x.lazy), full: median(x.full), ratio: Math.round((median(x.full) / median(x.lazy)) * 10) / 10, lazyBytes: median(x.lazyBytes), fullBytes: x.fullBytes, samples: x });
    return { firstByte: { file: deep, ...summary(fb) }, chroot: summary(ch) };
  };
  results.links = {};
  for (const mbps of links) {
    if (mbps === 0) {
      results.links.loopback = measure(reg.host);
      continue;
    }
    const th = await startThrottle(reg.host, mbps);
    try {
      results.links[`${mbps} Mbit/s`] = measure(th.host);
    } finally {
      th.stop();
    }
  }

  const sq = { cold: [], warm: [], size: 192 << 20, blob: seqBlob };
  for (let i = 0; i < runs; i++) {
    dropCaches();
    const m = lazyMount(seq);
    let t = now();
    sh(`dd if=${m.dir}/big.bin of=/dev/null bs=1M status=none`);
    sq.cold.push(now() - t);
    m.umount();
    dropCaches();
    const w = lazyMount(seq, m.root);
    t = now();
    sh(`dd if=${w.dir}/big.bin of=/dev/null bs=1M status=none`);
    sq.warm.push(now() - t);
    w.umount();
  }
  results.sequential = { bytes: sq.size, blob: sq.blob, coldMBps: Math.round(sq.size / 1e6 / median(sq.cold)), warmMBps: Math.round(sq.size / 1e6 / median(sq.warm)), samples: sq };
} finally {
  reg.stop();
  sh(`grep ${work} /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l`);
}
results.load.end = load();

const s = (x) => `${x.toFixed(2)} s`;
const mb = (x) => `${(x / 1e6).toFixed(1)} MB`;
const r = results;
const rows = [];
for (const [link, x] of Object.entries(r.links)) {
  rows.push([`${link}: first byte of ${x.firstByte.file} (big-layer)`, s(x.firstByte.lazy), s(x.firstByte.full), `${x.firstByte.ratio}× sooner (target ≥ 10×)`]);
  rows.push([`${link}: bytes fetched for it`, mb(x.firstByte.lazyBytes), mb(x.firstByte.fullBytes), ""]);
  rows.push([`${link}: mount + chroot python3 -c 'import json' (debian-python)`, s(x.chroot.lazy), s(x.chroot.full), `${x.chroot.ratio}× sooner`]);
  rows.push([`${link}: bytes fetched for it`, mb(x.chroot.lazyBytes), mb(x.chroot.fullBytes), `${((100 * x.chroot.lazyBytes) / x.chroot.fullBytes).toFixed(1)}% of the image`]);
}
rows.push(["loopback: sequential read, 192 MiB file, cold span cache", `${r.sequential.coldMBps} MB/s`, "", "target ≥ 150 MB/s"]);
rows.push(["loopback: sequential read, same file, warm span cache (remounted)", `${r.sequential.warmMBps} MB/s`, "", ""]);
const md = writeResults("mount", results, rows, [`median of ${runs}; load ${r.load.start}→${r.load.end}`, "lazy soci mount", "skopeo copy + tar -xzf", "ratio"]);
console.log(md);
