#!/usr/bin/env node
// bench/convert: wall time and peak memory of `soci convert`, as ratios in one
// run against (a) the floor — one inflate plus a tar walk per layer
// (`gzip -dc LAYER | tar -t`), and (b) an upstream-equivalent pipeline — a zlib
// Z_BLOCK checkpoint pass (bench/convert/zran_pass.c) followed by a separate
// gzip+tar pass and a digest pass over the blob, as upstream's BuildZtoc does.
// Also --jobs 2 against --jobs 1 on a multi-layer image, and peak RSS on a
// synthetic 1 GB layer.
//
//   node bench/convert/run.mjs [--runs N] [--images debian-minbase,big-layer] [--skip-1g]
//
// Needs: dist/soci (npm run build), the fixture images (built here if missing;
// the Debian ones need root and the Debian mirror), hyperfine, gcc + zlib headers.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { hyperfine, peakRss, ratio, ROOT, writeResults } from "../lib.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const runs = Number(opt("--runs", "3"));
const images = opt("--images", "debian-minbase,big-layer").split(",");
const jobsImage = opt("--jobs-image", "debian-python");
const skip1g = args.includes("--skip-1g");

const fixtures = join(ROOT, ".build", "fixtures", "images");
const work = join(ROOT, ".build", "bench-convert");
mkdirSync(work, { recursive: true });
const soci = join(ROOT, "dist", "soci");
if (!existsSync(soci)) execFileSync("node", [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });
const zran = join(work, "zran_pass");
execFileSync("gcc", ["-O2", "-o", zran, join(ROOT, "bench", "convert", "zran_pass.c"), "-lz"], { stdio: "inherit" });
execFileSync(join(ROOT, "scripts", "make_fixtures.sh"), [...new Set([...images, jobsImage])], { stdio: "inherit" });
const meta = JSON.parse(readFileSync(join(fixtures, "fixtures.json"), "utf8")).images;

function gzipLayers(name) {
  const img = meta[name];
  const layers = img.manifests.flatMap((m) => m.layers).filter((l) => l.compression === "gzip");
  const seen = new Set();
  return layers
    .filter((l) => (seen.has(l.digest) ? false : seen.add(l.digest)))
    .map((l) => ({ ...l, path: join(fixtures, name, "blobs", "sha256", l.digest.slice(7)) }));
}

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
function convertCmd(name, jobs) {
  const out = join(work, `out-${name}-${jobs}`);
  const store = join(work, `store-${name}-${jobs}`);
  return {
    prepare: `rm -rf ${q(out)} ${q(store)}`,
    cmd: `${q(soci)} --quiet --store ${q(store)} convert --jobs ${jobs} --min-layer-size 0 --format oci-dir oci:${q(join(fixtures, name))}:latest oci:${q(out)}:latest`,
  };
}

const results = { runs, images: {} };
const rows = [];
for (const name of images) {
  const layers = gzipLayers(name);
  const bytes = layers.reduce((n, l) => n + l.size, 0);
  const floor = layers.map((l) => `gzip -dc ${q(l.path)} | tar -t >/dev/null`).join(" && ");
  const upstream = layers
    .map((l) => `${q(zran)} ${q(l.path)} 4194304 >/dev/null && gzip -dc ${q(l.path)} | tar -t >/dev/null && sha256sum ${q(l.path)} >/dev/null`)
    .join(" && ");
  const ours = convertCmd(name, 1);
  const h = hyperfine({ floor, "upstream-equivalent": upstream, "soci convert --jobs 1": `${ours.prepare} && ${ours.cmd}` }, { runs, warmup: 1 });
  const rss = {
    floor: peakRss(layers.map((l) => `gzip -dc ${q(l.path)} | tar -t >/dev/null`).join("; ")),
    ours: (execFileSync("sh", ["-c", ours.prepare]), peakRss(ours.cmd)),
  };
  const t = h["soci convert --jobs 1"].median;
  results.images[name] = { compressedBytes: bytes, layers: layers.length, hyperfine: h, peakRss: rss };
  rows.push([name, `${(bytes / 1e6).toFixed(1)} MB`, "gzip -dc | tar -t (floor)", `${h.floor.median.toFixed(3)} s`, "1 (baseline)"]);
  rows.push([name, "", "upstream-equivalent (zran pass + gzip/tar pass + digest)", `${h["upstream-equivalent"].median.toFixed(3)} s`, `${ratio(h["upstream-equivalent"].median, h.floor.median)}× floor`]);
  rows.push([name, "", "soci convert --jobs 1", `${t.toFixed(3)} s`, `${ratio(t, h.floor.median)}× floor; ${ratio(h["upstream-equivalent"].median, t)}× faster than upstream-equivalent`]);
  rows.push([name, "", "peak RSS soci convert", `${(rss.ours / 2 ** 20).toFixed(0)} MiB`, `floor pipeline ${(rss.floor / 2 ** 20).toFixed(0)} MiB`]);
}

{
  const j1 = convertCmd(jobsImage, 1);
  const j2 = convertCmd(jobsImage, 2);
  const h = hyperfine({ "--jobs 1": `${j1.prepare} && ${j1.cmd}`, "--jobs 2": `${j2.prepare} && ${j2.cmd}` }, { runs, warmup: 1 });
  results.jobs = { image: jobsImage, hyperfine: h };
  rows.push([jobsImage, "", "soci convert --jobs 1", `${h["--jobs 1"].median.toFixed(3)} s`, "1 (baseline)"]);
  rows.push([jobsImage, "", "soci convert --jobs 2", `${h["--jobs 2"].median.toFixed(3)} s`, `${ratio(h["--jobs 1"].median, h["--jobs 2"].median)}× faster than --jobs 1`]);
}

if (!skip1g) {
  const big = join(work, "layer-1g.tar.gz");
  if (!existsSync(big)) {
    // One tar entry of 1 GiB of deterministic, compressible bytes, gzipped with pigz -1.
    execFileSync("sh", ["-c", `python3 ${q(join(ROOT, "bench", "convert", "make_1g_layer.py"))} | pigz -1 -n > ${q(big)}.tmp && mv ${q(big)}.tmp ${q(big)}`], { stdio: "inherit" });
  }
  const size = statSync(big).size;
  const layout = join(work, "image-1g");
  execFileSync("python3", [join(ROOT, "bench", "convert", "make_1g_layer.py"), "--layout", layout, big], { stdio: "inherit" });
  const c = convertCmd("1g", 1);
  const cmd = c.cmd.replace(`oci:${q(join(fixtures, "1g"))}:latest`, `oci:${q(layout)}:latest`);
  execFileSync("sh", ["-c", c.prepare]);
  const rss = peakRss(cmd);
  const floorRss = peakRss(`gzip -dc ${q(big)} | tar -t >/dev/null`);
  results.layer1g = { compressedBytes: size, peakRss: rss, floorPeakRss: floorRss };
  rows.push(["1 GiB layer", `${(size / 1e6).toFixed(1)} MB`, "peak RSS soci convert", `${(rss / 2 ** 20).toFixed(0)} MiB`, `target < 256 MiB; floor pipeline ${(floorRss / 2 ** 20).toFixed(0)} MiB`]);
}

const md = writeResults("convert", results, rows, ["image", "gzip bytes", "what", "median / peak", "ratio"]);
console.log(md);
