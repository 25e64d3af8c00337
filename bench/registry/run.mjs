#!/usr/bin/env node
// bench/registry: registry transfer speed of the `soci` binary, as ratios in
// one run against `skopeo copy` (1.9) of the same image through the same
// loopback docker-registry 2.8:
//   push  `soci copy oci:LAYOUT REG/…`  vs  `skopeo copy oci:LAYOUT docker://REG/…`
//         (the registry's storage is emptied before every run: a full upload);
//   pull  `soci pull -o DIR REG/…`      vs  `skopeo copy docker://REG/… oci:DIR`;
// and `soci convert` registry → registry against `soci convert` layout →
// layout of the same image (--force: zTOCs rebuilt every run).
// Target: push and pull ≤ 1.0× skopeo's time.
//
//   node bench/registry/run.mjs [--runs N] [--image big-layer]
//
// Needs: dist/soci (built here if missing), docker-registry, skopeo, hyperfine.
import { execFileSync } from "node:child_process";
import * as esbuild from "esbuild";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { hyperfine, ratio, ROOT, writeResults } from "../lib.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const runs = Number(opt("--runs", "5"));
const image = opt("--image", "big-layer");

const work = join(ROOT, ".build", "bench-registry");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const soci = join(ROOT, "dist", "soci");
if (!existsSync(soci)) execFileSync("node", [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });
execFileSync(join(ROOT, "scripts", "make_fixtures.sh"), ["-q", image], { stdio: "inherit" });
const layout = join(ROOT, ".build", "fixtures", "images", image);

// The registry is started by the tests' own starter (test/fakes/docker_registry.ts),
// compiled here with esbuild; its log goes to a file: this process blocks in hyperfine
// and could not drain a pipe.
const fakes = join(work, "docker_registry.mjs");
await esbuild.build({ entryPoints: [join(ROOT, "test", "fakes", "docker_registry.ts")], bundle: true, platform: "node", format: "esm", outfile: fakes, logLevel: "error" });
const { startRegistry } = await import(fakes);

const running = await startRegistry(undefined, { logFile: join(work, "registry.log") });
const reg = { host: running.host, data: join(running.dir, "data") };
const home = join(work, "home"); // skopeo's blob-info cache and our store live here, not in the user's home
mkdirSync(home, { recursive: true });
const env = `HOME=${home} XDG_DATA_HOME=${home}/share`;
const load = () => Math.round(loadavg()[0] * 100) / 100;
const results = { image, runs, load: { start: load() } };
try {
  // push: every run uploads everything (storage and skopeo's cache emptied first).
  const push = hyperfine(
    {
      soci: `env ${env} ${soci} copy oci:${layout}:latest ${reg.host}/bench:1`,
      skopeo: `env ${env} skopeo copy -q --all --dest-tls-verify=false oci:${layout}:latest docker://${reg.host}/bench:1`,
    },
    { runs, warmup: 1, prepare: `rm -rf ${reg.data} ${home}/.local/share/containers ${home}/share/containers` },
  );
  results.push = { ...push, ratio: ratio(push.soci.median, push.skopeo.median) };

  // pull: into a fresh layout each run.
  execFileSync("sh", ["-c", `env ${env} ${soci} copy oci:${layout}:latest ${reg.host}/bench:1`], { stdio: "inherit" });
  const out = join(work, "pulled");
  const pull = hyperfine(
    {
      soci: `env ${env} ${soci} --store ${home}/store pull -q -o ${out} ${reg.host}/bench:1`,
      skopeo: `env ${env} skopeo copy -q --all --src-tls-verify=false docker://${reg.host}/bench:1 oci:${out}:1`,
    },
    { runs, warmup: 1, prepare: `rm -rf ${out}` },
  );
  results.pull = { ...pull, ratio: ratio(pull.soci.median, pull.skopeo.median) };

  // convert: registry → registry (layers mounted/skipped, zTOCs uploaded) vs layout → layout.
  const dst = join(work, "converted");
  const convert = hyperfine(
    {
      registry: `env ${env} ${soci} --store ${home}/store convert --force --min-layer-size 0 -q ${reg.host}/bench:1 ${reg.host}/bench:1-soci`,
      layout: `env ${env} ${soci} --store ${home}/store convert --force --min-layer-size 0 --format oci-dir -q ${layout} ${dst}`,
    },
    { runs, warmup: 1, prepare: `rm -rf ${dst}` },
  );
  results.convert = { ...convert, ratio: ratio(convert.registry.median, convert.layout.median) };
} finally {
  await running.stop();
}
results.load.end = load();

const s = (x) => `${x.toFixed(3)} s`;
const md = writeResults("registry", results, [
  ["push (copy layout → registry)", s(results.push.soci.median), s(results.push.skopeo.median), `${results.push.ratio}× (target ≤ 1.0×)`],
  ["pull (registry → layout)", s(results.pull.soci.median), s(results.pull.skopeo.median), `${results.pull.ratio}× (target ≤ 1.0×)`],
  ["convert registry → registry vs layout → layout", s(results.convert.registry.median), s(results.convert.layout.median), `${results.convert.ratio}×`],
], [`${image}, median of ${runs}`, "soci", "baseline", "ratio"]);
console.log(md);
