#!/usr/bin/env node
// bench/run: pull-plus-run-to-ready-line of the debian-python fixture
// (`python3 /app/main.py` imports numpy and pandas, then prints "66"), in one
// run, as ratios:
//   lazy      `soci image rpull` (SOCI v2 image, every layer indexed:
//             `soci convert --min-layer-size 0`) + `ctr run --snapshotter soci`
//             with our snapshotter daemon (both run as the binary, dist/soci);
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
// A third mode, "prefetch", is the lazy mode on an image converted with
// `--prefetch-files-json` (formats §9.6: the files /app/main.py reads,
// recorded once by record_files.mjs) and a snapshotter with `[prefetch]
// enable = true`: those spans are fetched in parallel while the layers are
// resolved, before the container starts.
//
// Two workloads, each a cold round of its own: the headline `python3
// /app/main.py` (numpy + pandas, ready line "66") and `python3 -c 'print(42)'`
// (ready line "42": interpreter start only).
//
//   node bench/run/run.mjs [--runs N] [--span-size BYTES (default 4 MiB, upstream's)]
//        [--only main|print42] [--modes lazy,overlay,prefetch]
//        [--cpu-prof DIR (the daemon runs under node --cpu-prof)]
//
// Needs root, /dev/fuse, containerd, ctr, runc, docker-registry.
import { execFileSync, spawn } from "node:child_process";
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ratio, ROOT, writeResults } from "../lib.mjs";
import { recordPythonFiles } from "./record_files.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const runs = Number(opt("--runs", "3"));
const spanSize = opt("--span-size", "4194304");
const profDir = opt("--cpu-prof", undefined);
const WORKLOADS = [
  { name: "main", title: "python3 /app/main.py (numpy + pandas)", argv: ["python3", "/app/main.py"], line: "66" },
  { name: "print42", title: "python3 -c 'print(42)'", argv: ["python3", "-c", "print(42)"], line: "42" },
].filter((w) => opt("--only", w.name) === w.name);
const MODES = opt("--modes", "lazy,overlay,prefetch").split(",");
const work = join(ROOT, ".build", "bench-run");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });
execFileSync(join(ROOT, "scripts", "make_fixtures.sh"), ["-q", "debian-python"], { stdio: "inherit" });
const BUNDLE = join(ROOT, "dist", "soci.mjs");
// The snapshotter daemon and `soci image rpull` run as the shipped binary (what a user runs);
// --cpu-prof runs the daemon from the bundle under Node instead.
const BINARY = join(ROOT, "dist", "soci");
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
if (MODES.includes("prefetch")) {
  const list = join(work, "prefetch-files.json");
  writeFileSync(list, recordPythonFiles(layout, "/app/main.py"));
  await must(await soci("convert", "--min-layer-size", "0", "--span-size", spanSize, "--prefetch-files-json", list, `oci:${layout}`, `${reg.host}/bench/debian-python:soci-prefetch`), "convert --prefetch-files-json");
}

const rounds = [];
const live = { ctd: undefined, d: undefined, dir: undefined, ns: undefined };
try {
  for (let i = 0; i < runs; i++) for (const w of WORKLOADS) {
    for (const mode of i % 2 === 0 ? MODES : [...MODES].reverse()) {
      const dir = join(work, `r${i}-${w.name}-${mode}`);
      const ns = `bench-run-${process.pid}-${i}-${w.name}-${mode}`;
      const ctd = new Containerd(join(dir, "ctd"));
      Object.assign(live, { ctd, dir, ns, d: undefined });
      let d;
      const lazy = mode !== "overlay";
      if (lazy) {
        // The snapshotter first: containerd dials its proxy plugins at start and backs off on failure.
        writeFileSync(join(dir, "soci.toml"), `[background_fetch]\ndisable = true\n${mode === "prefetch" ? "\n[prefetch]\nenable = true\n" : ""}`);
        d = live.d = new SociDaemon(join(dir, "soci"), ctd.sociSock, join(dir, "soci.toml"));
        await d.start(profDir ? [process.execPath, "--cpu-prof", "--cpu-prof-dir", profDir, BUNDLE] : [BINARY]);
      }
      await ctd.start();
      if (lazy) await ctd.waitSnapshotter(ns);
      dropCaches();
      proxy.reset();
      const t0 = performance.now();
      let pulledMs;
      let readyMs;
      if (lazy) {
        const ref = `${proxy.host}/bench/debian-python:${mode === "prefetch" ? "soci-prefetch" : "soci"}`;
        await must(await runAsync(BINARY, ["image", "rpull", "--address", ctd.sock, "-n", ns, ref]), "rpull");
        pulledMs = performance.now() - t0;
        readyMs = await runUntilLine("ctr", ["--address", ctd.sock, "-n", ns, "run", "--snapshotter", "soci", "--rm", ref, `b${i}`, ...w.argv], w.line, t0);
      } else {
        const ref = `${proxy.host}/bench/debian-python:plain`;
        await must(await runAsync("ctr", ["--address", ctd.sock, "-n", ns, "images", "pull", "--plain-http", ref]), "ctr pull");
        pulledMs = performance.now() - t0;
        readyMs = await runUntilLine("ctr", ["--address", ctd.sock, "-n", ns, "run", "--rm", ref, `b${i}`, ...w.argv], w.line, t0);
      }
      const bytes = proxy.bytes();
      rounds.push({ round: i, workload: w.name, mode, pulledMs: Math.round(pulledMs), readyMs: Math.round(readyMs), bytes, load: loadavg()[0] });
      console.error(`round ${i} ${w.name} ${mode}: pulled ${Math.round(pulledMs)} ms, ready ${Math.round(readyMs)} ms, ${bytes} bytes from the registry, load ${loadavg()[0].toFixed(2)}`);
      if (d) await d.stop("SIGINT");
      if (d && profDir) copyFileSync(d.logPath, join(profDir, `r${i}-${w.name}.log`));
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
const of = (w, mode, k) => median(rounds.filter((r) => r.workload === w && r.mode === mode).map((r) => r[k]));
const summary = {};
const rows = [];
for (const w of WORKLOADS) {
  const s = (summary[w.name] = {});
  const head = w.name === "main" ? " (headline)" : "";
  const title = { lazy: "soci lazy (rpull + ctr run --snapshotter soci)", overlay: "overlayfs (ctr images pull + ctr run)", prefetch: "soci lazy + prefetch artifact of main.py's files ([prefetch] enable)" };
  for (const mode of MODES) {
    s[mode] = { pulledMs: of(w.name, mode, "pulledMs"), readyMs: of(w.name, mode, "readyMs"), bytes: of(w.name, mode, "bytes") };
    rows.push([`${w.title}${mode === "lazy" ? head : ""}: ${title[mode]}`, String(s[mode].pulledMs), String(s[mode].readyMs), String(s[mode].bytes)]);
  }
  if (!s.overlay) continue;
  for (const mode of MODES.filter((m) => m !== "overlay")) {
    s[mode].speedup = ratio(s.overlay.readyMs, s[mode].readyMs);
    s[mode].bytesRatio = ratio(s[mode].bytes, s.overlay.bytes);
    rows.push([`${w.title}: ratio, ${mode}`, "", `${s[mode].speedup}× sooner (target ≥ 2×)`, `${s[mode].bytesRatio} of the bytes (target ≤ 0.25)`]);
  }
}
const loads = rounds.map((r) => r.load);
// A partial or profiled round is not a result: print it, keep bench/results as it was.
const partial = profDir !== undefined || args.includes("--only") || args.includes("--modes");
const md = (partial ? (_n, _d, r, h) => [h, ...r].map((x) => x.join(" | ")).join("\n") : writeResults)("run", { runs, spanSize: Number(spanSize), rounds, summary }, rows,
  [`debian-python (span ${spanSize}), median of ${runs}; load ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`, "pulled (ms)", "ready line (ms)", "bytes from registry"]);
console.log(md);
