#!/usr/bin/env node
// bench/run: pull-plus-run-to-ready-line of the debian-python fixture
// (`python3 /app/main.py` imports numpy and pandas, then prints "66"), in one
// run, as ratios:
//   lazy      `soci image rpull` (SOCI v2 image, every layer indexed:
//             `soci convert --min-layer-size 0`) + `ctr run --snapshotter soci`
//             with our snapshotter daemon;
//   baseline  `ctr images pull` (containerd's overlayfs snapshotter, full
//             download + unpack) + `ctr run` of the same, unconverted image;
// both from the same loopback docker-registry through a byte-counting TCP
// proxy (bytes = everything the registry sent to any client during the round).
// Each round is cold: a fresh containerd root (content is shared across
// namespaces otherwise), a fresh snapshotter root, page cache dropped.
// The snapshotter runs with `[background_fetch] disable = true`: our fetcher
// starts at once instead of after upstream's 30 s silence period, which would
// count unrequested bytes. Targets: ready ≥ 2× sooner, ≤ 25% of the bytes.
//
//   node bench/run/run.mjs [--runs N] [--span-size BYTES (default 4 MiB, upstream's)]
//
// Needs root, /dev/fuse, containerd, ctr, runc, docker-registry.
import { execFileSync, spawn } from "node:child_process";
import * as esbuild from "esbuild";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ratio, ROOT, writeResults } from "../lib.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const runs = Number(opt("--runs", "3"));
const spanSize = opt("--span-size", "4194304");
const work = join(ROOT, ".build", "bench-run");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });
execFileSync(join(ROOT, "scripts", "make_fixtures.sh"), ["-q", "debian-python"], { stdio: "inherit" });
const BUNDLE = join(ROOT, "dist", "soci.mjs");
const layout = join(ROOT, ".build", "fixtures", "images", "debian-python");

// The tests' own starters (registry, containerd, our daemon), compiled with esbuild.
const helpers = join(work, "helpers.mjs");
writeFileSync(join(work, "helpers.ts"), `export * from ${JSON.stringify(join(ROOT, "test/fakes/docker_registry.ts"))};\nexport * from ${JSON.stringify(join(ROOT, "test/e2e/_containerd.ts"))};\n`);
await esbuild.build({ entryPoints: [join(work, "helpers.ts")], bundle: true, platform: "node", format: "esm", outfile: helpers, logLevel: "error" });
const { startRegistry, Containerd, SociDaemon, runAsync, teardown } = await import(helpers);

/** A TCP proxy in front of the registry counting bytes sent to clients. */
async function countingProxy(target) {
  const [host, port] = target.split(":");
  let bytes = 0;
  const server = createServer((c) => {
    const u = connect(Number(port), host);
    u.on("data", (b) => (bytes += b.length));
    c.pipe(u);
    u.pipe(c);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { host: `127.0.0.1:${server.address().port}`, reset: () => (bytes = 0), bytes: () => bytes, close: () => server.close() };
}

/** Runs `cmd args`, resolving with ms elapsed (from `t0`) when stdout shows `line`, and the exit. */
function runUntilLine(cmd, argv, line, t0) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let readyMs;
    p.stdout.on("data", (b) => {
      out += b;
      if (readyMs === undefined && out.split("\n").some((l) => l.trim() === line)) readyMs = performance.now() - t0;
    });
    p.stderr.on("data", (b) => (err += b));
    p.on("exit", (code) => (code === 0 && readyMs !== undefined ? resolve(readyMs) : reject(new Error(`${cmd} ${argv.join(" ")} exited ${code}: ${out}${err}`))));
  });
}

const must = async (r, what) => {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr}`);
  return r;
};
const dropCaches = () => {
  try {
    execFileSync("sh", ["-c", "sync; echo 3 > /proc/sys/vm/drop_caches"]);
  } catch {}
};

const reg = await startRegistry(undefined, { logFile: join(work, "registry.log") });
const proxy = await countingProxy(reg.host);
const soci = (...a) => runAsync(process.execPath, [BUNDLE, "--store", join(work, "store"), ...a], { timeoutMs: 600_000 });
await must(await soci("convert", "--min-layer-size", "0", "--span-size", spanSize, `oci:${layout}`, `${reg.host}/bench/debian-python:soci`), "convert");
await must(await soci("copy", `oci:${layout}`, `${reg.host}/bench/debian-python:plain`), "copy");

const rounds = [];
const live = { ctd: undefined, d: undefined, dir: undefined, ns: undefined };
try {
  for (let i = 0; i < runs; i++) {
    for (const mode of i % 2 === 0 ? ["lazy", "overlay"] : ["overlay", "lazy"]) {
      const dir = join(work, `r${i}-${mode}`);
      const ns = `bench-run-${process.pid}-${i}-${mode}`;
      const ctd = new Containerd(join(dir, "ctd"));
      Object.assign(live, { ctd, dir, ns, d: undefined });
      let d;
      if (mode === "lazy") {
        // The snapshotter first: containerd dials its proxy plugins at start and backs off on failure.
        writeFileSync(join(dir, "soci.toml"), "[background_fetch]\ndisable = true\n");
        d = live.d = new SociDaemon(join(dir, "soci"), ctd.sociSock, join(dir, "soci.toml"));
        await d.start();
      }
      await ctd.start();
      if (mode === "lazy") await ctd.waitSnapshotter(ns);
      dropCaches();
      proxy.reset();
      const t0 = performance.now();
      let pulledMs;
      let readyMs;
      if (mode === "lazy") {
        const ref = `${proxy.host}/bench/debian-python:soci`;
        await must(await runAsync(process.execPath, [BUNDLE, "image", "rpull", "--address", ctd.sock, "-n", ns, ref]), "rpull");
        pulledMs = performance.now() - t0;
        readyMs = await runUntilLine("ctr", ["--address", ctd.sock, "-n", ns, "run", "--snapshotter", "soci", "--rm", ref, `b${i}`, "python3", "/app/main.py"], "66", t0);
      } else {
        const ref = `${proxy.host}/bench/debian-python:plain`;
        await must(await runAsync("ctr", ["--address", ctd.sock, "-n", ns, "images", "pull", "--plain-http", ref]), "ctr pull");
        pulledMs = performance.now() - t0;
        readyMs = await runUntilLine("ctr", ["--address", ctd.sock, "-n", ns, "run", "--rm", ref, `b${i}`, "python3", "/app/main.py"], "66", t0);
      }
      const bytes = proxy.bytes();
      rounds.push({ round: i, mode, pulledMs: Math.round(pulledMs), readyMs: Math.round(readyMs), bytes, load: loadavg()[0] });
      console.error(`round ${i} ${mode}: pulled ${Math.round(pulledMs)} ms, ready ${Math.round(readyMs)} ms, ${bytes} bytes from the registry, load ${loadavg()[0].toFixed(2)}`);
      if (d) await d.stop("SIGINT");
      await ctd.stop();
      await teardown(dir, [ns]);
      Object.assign(live, { ctd: undefined, d: undefined });
    }
  }
} finally {
  await live.d?.stop("SIGINT").catch(() => {});
  await live.ctd?.stop().catch(() => {});
  if (live.dir) await teardown(live.dir, [live.ns]).catch(() => {});
  proxy.close();
  await reg.stop();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const of = (mode, k) => median(rounds.filter((r) => r.mode === mode).map((r) => r[k]));
const summary = {
  lazyReadyMs: of("lazy", "readyMs"),
  overlayReadyMs: of("overlay", "readyMs"),
  lazyBytes: of("lazy", "bytes"),
  overlayBytes: of("overlay", "bytes"),
};
summary.speedup = ratio(summary.overlayReadyMs, summary.lazyReadyMs);
summary.bytesRatio = ratio(summary.lazyBytes, summary.overlayBytes);
const md = writeResults("run", { runs, spanSize: Number(spanSize), rounds, summary }, [
  ["soci lazy (rpull + ctr run --snapshotter soci)", String(of("lazy", "pulledMs")), String(summary.lazyReadyMs), String(summary.lazyBytes)],
  ["overlayfs (ctr images pull + ctr run)", String(of("overlay", "pulledMs")), String(summary.overlayReadyMs), String(summary.overlayBytes)],
  ["ratio", "", `${summary.speedup}× sooner (target ≥ 2×)`, `${summary.bytesRatio} of the bytes (target ≤ 0.25)`],
], [`debian-python (span ${spanSize}), median of ${runs}`, "pulled (ms)", "ready line (ms)", "bytes from registry"]);
console.log(md);
