// Hostile layers through buildZtoc: truncated, corrupted or mislabelled
// blobs, unsafe names, absurd sizes, a decompression bomb, garbage, nothing.
// Each must end in a typed error (FormatError) naming the layer (the `source`
// option) and, where there is one, the compressed or uncompressed offset —
// never a hang, a crash or unbounded memory. Unsafe names are listed
// verbatim: judging them is the extractors' job (formats §3.6).
//
// Tar headers here are built field by field (POSIX ustar layout), not with
// our own tar writer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import process from "node:process";
import zlib from "node:zlib";
import { FormatError, SociError } from "../../core-wasm/src/errors.ts";
import { buildZtoc, decodeZtoc, readTocFile, type BuildZtocOptions, type BuiltZtoc } from "../../core-wasm/src/ztoc/mod.ts";
import { sha256, unevenChunks } from "./_fixture_util.ts";

const TOOL = "AWS SOCI CLI v0.2";
const SOURCE = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const IN_LAYER = `(in "${SOURCE}"`;
const TIMEOUT = { timeout: 120_000 };

function build(blob: Uint8Array, over: Partial<BuildZtocOptions> = {}): Promise<BuiltZtoc> {
  return buildZtoc(unevenChunks(blob, [4096, 65536, 1, 12345]), { compression: "gzip", spanSize: 65536, buildToolIdentifier: TOOL, source: SOURCE, ...over });
}

/** Asserts a FormatError whose message is exactly `message` + the location suffix. */
async function rejectsExactly(p: Promise<unknown>, message: string): Promise<FormatError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => ((caught = e), true));
  assert.ok(caught instanceof FormatError && caught instanceof SociError, `expected a FormatError, got ${caught}`);
  assert.equal(caught.message, message);
  assert.equal(caught.code, "format");
  return caught;
}

// ---------------------------------------------------------------- raw tar

const ascii = (s: string) => new TextEncoder().encode(s);

function putOctal(h: Uint8Array, at: number, width: number, v: number): void {
  h.set(ascii(v.toString(8).padStart(width - 1, "0") + "\0"), at);
}

interface RawFields {
  name: string;
  /** '0' file, '1' hardlink, '2' symlink, '5' dir, 'x' PAX header. */
  typeflag: string;
  /** A number (octal), a bigint (base-256) or the raw 12 bytes. */
  size?: number | bigint | Uint8Array;
  linkname?: string;
}

/** A 512-byte ustar header, field by field. */
function rawHeader(f: RawFields): Uint8Array {
  const h = new Uint8Array(512);
  h.set(ascii(f.name), 0); // name[100]
  putOctal(h, 100, 8, f.typeflag === "5" ? 0o755 : 0o644); // mode[8]
  putOctal(h, 108, 8, 0); // uid[8]
  putOctal(h, 116, 8, 0); // gid[8]
  const size = f.size ?? 0;
  if (size instanceof Uint8Array) h.set(size, 124); // size[12], raw
  else if (typeof size === "bigint") {
    h[124] = 0x80; // base-256 marker, then 11 bytes big-endian
    for (let i = 0; i < 11; i++) h[135 - i] = Number((size >> BigInt(8 * i)) & 0xffn);
  } else putOctal(h, 124, 12, size); // size[12], octal
  putOctal(h, 136, 12, 1700000000); // mtime[12]
  h[156] = f.typeflag.charCodeAt(0); // typeflag
  h.set(ascii(f.linkname ?? ""), 157); // linkname[100]
  h.set(ascii("ustar\0"), 257); // magic[6]
  h.set(ascii("00"), 263); // version[2]
  h.fill(0x20, 148, 156); // chksum[8]: spaces while summing
  let sum = 0;
  for (const b of h) sum += b;
  h.set(ascii(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return h;
}

/** Header + data + padding to 512. */
function member(f: RawFields, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([rawHeader(f), data, new Uint8Array(pad)]);
}

const END = new Uint8Array(1024);
const tarOf = (...members: Uint8Array[]) => new Uint8Array(Buffer.concat([...members, END]));
const gz = (b: Uint8Array) => new Uint8Array(zlib.gzipSync(b));

/** A realistic small layer: text that compresses into several deflate blocks, and random bytes. */
function sampleLayer(): { tar: Uint8Array; blob: Uint8Array } {
  let seed = 42;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff);
  const text = ascii(Array.from({ length: 20000 }, (_, i) => `line ${i} ${rnd() % 1000} lorem ipsum dolor\n`).join(""));
  const random = Uint8Array.from({ length: 100000 }, () => rnd() >>> 23); // high bits: an LCG's low bits repeat
  const tar = tarOf(member({ name: "a.txt", typeflag: "0", size: text.length }, text), member({ name: "b.bin", typeflag: "0", size: random.length }, random));
  return { tar, blob: gz(tar) };
}
const layer = sampleLayer();

// ---------------------------------------------------------------- (a) truncation

test("(a) a gzip layer cut in the header, a deflate block or the trailer fails naming the layer and compressed offset", TIMEOUT, async () => {
  const n = layer.blob.length;
  const cases: Array<[number, string]> = [
    [5, `Cannot inflate gzip data: the input ends inside a gzip header ${IN_LAYER}, at compressed offset 0)`],
    [10, `Cannot inflate gzip data: the input ends inside a deflate stream ${IN_LAYER}, at compressed offset 10)`],
    [n >> 1, `Cannot inflate gzip data: the input ends inside a deflate stream ${IN_LAYER}, at compressed offset ${n >> 1})`],
    [n - 8, `Cannot inflate gzip data: the input ends inside a gzip trailer ${IN_LAYER}, at compressed offset ${n - 8})`],
    [n - 1, `Cannot inflate gzip data: the input ends inside a gzip trailer ${IN_LAYER}, at compressed offset ${n - 8})`],
  ];
  for (const [cut, message] of cases) await rejectsExactly(build(layer.blob.subarray(0, cut)), message);
  // Every ~1000th cut fails too (a FormatError naming the layer, offset at or before the cut), in bounded time.
  const started = Date.now();
  for (let cut = 1; cut < n; cut += 997) {
    await assert.rejects(build(layer.blob.subarray(0, cut)), (e: unknown) => e instanceof FormatError && e.message.includes(IN_LAYER) && e.location.compressedOffset! <= cut);
  }
  assert.ok(Date.now() - started < 10_000);
});

test("(a) a tar cut inside a header or file data (validly compressed) fails at the uncompressed end", TIMEOUT, async () => {
  await rejectsExactly(build(gz(layer.tar.subarray(0, 300))), `Cannot read tar archive: unexpected end of archive ${IN_LAYER}, at uncompressed offset 300)`);
  await rejectsExactly(build(layer.tar.subarray(0, 5000), { compression: "uncompressed" }), `Cannot read tar archive: unexpected end of archive ${IN_LAYER}, at uncompressed offset 5000)`);
});

test("(a) with the descriptor's size, a truncated blob is reported as the wrong size, not as a parse error", TIMEOUT, async () => {
  const n = layer.blob.length;
  await rejectsExactly(
    build(layer.blob.subarray(0, n - 100), { expectedDigest: sha256(layer.blob), expectedSize: n }),
    `Cannot build zTOC: the layer blob is ${n - 100} bytes, expected ${n} ${IN_LAYER})`,
  );
});

// ---------------------------------------------------------------- (b) corruption

test("(b) bytes flipped mid-stream fail as corrupt deflate data, a CRC mismatch or a broken tar header", TIMEOUT, async () => {
  const n = layer.blob.length;
  const flipped = (at: number) => {
    const b = layer.blob.slice();
    b[at] ^= 0x55;
    return b;
  };
  const inflate = /^Cannot inflate gzip data: .+ \(in "sha256:1{64}", at compressed offset (\d+)\)$/;
  const crc = new RegExp(`^Cannot verify gzip member 1: CRC-32 0x[0-9a-f]+ does not match trailer 0x[0-9a-f]+ \\(in "sha256:1{64}", at compressed offset ${n - 8}\\)$`);
  const tarHeader = /^Cannot read tar archive: .+ \(in "sha256:1{64}", at uncompressed offset (\d+)\)$/;
  const cases: Array<[number, RegExp]> = [
    [100, inflate], // inside the first block's Huffman tables or codes
    [n - 6, crc], // the CRC-32 itself
  ];
  for (const [at, re] of cases) await assert.rejects(build(flipped(at)), (e: unknown) => e instanceof FormatError && (assert.match(e.message, re), true));
  // ISIZE: the CRC still matches the data, the size does not.
  await assert.rejects(build(flipped(n - 2)), (e: unknown) =>
    e instanceof FormatError && (assert.match(e.message, new RegExp(`^Cannot verify gzip member 1: size ${layer.tar.length} \\(mod 2\\^32\\) does not match trailer ISIZE \\d+ \\(in "sha256:1{64}", at compressed offset ${n - 8}\\)$`)), true));
  // A sweep: every flip is an error of one of the three kinds (never a silent wrong TOC), at an offset inside the input.
  const kinds = new Set<string>();
  for (let at = 0; at < n; at += 401) {
    await assert.rejects(build(flipped(at)), (e: unknown) => {
      assert.ok(e instanceof FormatError, `flip at ${at}: ${e}`);
      assert.ok(e.message.includes(IN_LAYER), e.message);
      const kind = [["inflate", inflate], ["crc", crc], ["tar", tarHeader], ["gzip header", /^Cannot parse gzip header: /]].find(([, re]) => (re as RegExp).test(e.message));
      assert.ok(kind !== undefined, `flip at ${at}: ${e.message}`);
      kinds.add(kind[0] as string);
      const off = e.location.compressedOffset ?? e.location.uncompressedOffset!;
      assert.ok(off <= (e.location.compressedOffset !== undefined ? n : layer.tar.length), `flip at ${at}: offset ${off}`);
      return true;
    });
  }
  assert.deepEqual([...kinds].sort(), ["crc", "gzip header", "inflate", "tar"]);
});

test("(b) a corrupt blob checked against its descriptor reports the digest mismatch and keeps the parse error as cause", TIMEOUT, async () => {
  const b = layer.blob.slice();
  b[100] ^= 0x55;
  const e = await rejectsExactly(
    build(b, { expectedDigest: sha256(layer.blob), expectedSize: layer.blob.length }),
    `Cannot build zTOC: the layer blob has digest ${sha256(b)}, expected ${sha256(layer.blob)} ${IN_LAYER})`,
  );
  assert.ok(e.cause instanceof FormatError && e.cause.message.startsWith("Cannot inflate gzip data: "), `cause: ${e.cause}`);
  assert.match(e.hint ?? "", /fetch the layer again/);
});

// ---------------------------------------------------------------- (c) wrong descriptor

test("(c) correct bytes with a wrong expected digest or size fail naming both digests or sizes", TIMEOUT, async () => {
  const n = layer.blob.length;
  const wrong = "sha256:" + "0".repeat(64);
  await rejectsExactly(build(layer.blob, { expectedDigest: wrong }), `Cannot build zTOC: the layer blob has digest ${sha256(layer.blob)}, expected ${wrong} ${IN_LAYER})`);
  await assert.rejects(build(layer.blob, { expectedSize: n - 1 }), (e: unknown) =>
    e instanceof FormatError && new RegExp(`^Cannot build zTOC: the layer blob is more than \\d+ bytes, expected ${n - 1} \\(in "sha256:1{64}"\\)$`).test(e.message));
  await rejectsExactly(build(layer.blob, { expectedSize: n + 1 }), `Cannot build zTOC: the layer blob is ${n} bytes, expected ${n + 1} ${IN_LAYER})`);
  await rejectsExactly(build(layer.tar, { compression: "uncompressed", expectedDigest: wrong }), `Cannot build zTOC: the layer blob has digest ${sha256(layer.tar)}, expected ${wrong} ${IN_LAYER})`);
});

// ---------------------------------------------------------------- (d) unsafe names

test("(d) '../' and absolute names and link targets are listed verbatim, without error", TIMEOUT, async () => {
  const names = ["../etc/passwd", "/etc/shadow", "a/../../escape", "./../x", ".."];
  const data = ascii("root:x:0:0\n");
  const tar = tarOf(
    ...names.map((name) => member({ name, typeflag: "0", size: data.length }, data)),
    member({ name: "link-up", typeflag: "2", linkname: "../../../../etc/passwd" }),
    member({ name: "hard-abs", typeflag: "1", linkname: "/etc/shadow" }),
  );
  for (const [compression, blob] of [["gzip", gz(tar)], ["uncompressed", tar]] as const) {
    const built = await build(blob, { compression });
    const toc = built.ztoc.toc;
    assert.deepEqual(toc.map((e) => Buffer.from(e.name).toString()), [...names, "link-up", "hard-abs"]);
    assert.deepEqual(toc.map((e) => Buffer.from(e.linkname).toString()), [...names.map(() => ""), "../../../../etc/passwd", "/etc/shadow"]);
    assert.deepEqual(built.warnings, []);
    const fetch = async (s: number, e: number) => blob.subarray(s, e);
    assert.deepEqual(Buffer.from(await readTocFile(built.ztoc, fetch, ascii("../etc/passwd"))), Buffer.from(data));
    assert.deepEqual(Buffer.from(await readTocFile(built.ztoc, fetch, ascii("hard-abs"))), Buffer.from(data));
  }
});

// ---------------------------------------------------------------- (e) absurd sizes

test("(e) a tiny layer whose header claims 2^40 bytes fails at the end of the data, in bounded time", TIMEOUT, async () => {
  const claims = rawHeader({ name: "huge", typeflag: "0", size: 2n ** 40n });
  const tar = new Uint8Array(Buffer.concat([claims, new Uint8Array(1536)]));
  await rejectsExactly(build(gz(tar)), `Cannot read tar archive: unexpected end of archive ${IN_LAYER}, at uncompressed offset 2048)`);
  await rejectsExactly(build(tar, { compression: "uncompressed" }), `Cannot read tar archive: unexpected end of archive ${IN_LAYER}, at uncompressed offset 2048)`);
});

test("(e) sizes beyond 2^53, negative sizes and garbage in the size field are rejected at the header", TIMEOUT, async () => {
  const cases: Array<[Uint8Array | bigint, string]> = [
    [2n ** 62n, "size field is beyond 2^53"], // base-256
    [new Uint8Array(12).fill(0xff), "negative size"], // base-256 −1
    [ascii("0000000z000\0"), "invalid size field"],
  ];
  for (const [size, what] of cases) {
    const tar = tarOf(rawHeader({ name: "odd", typeflag: "0", size }));
    await rejectsExactly(build(gz(tar)), `Cannot read tar archive: ${what} ${IN_LAYER}, at uncompressed offset 0)`);
  }
});

// ---------------------------------------------------------------- (f) PAX

/** One PAX record, "<length> <key>=<value>\\n", its length counting itself. */
function paxRecord(key: string, value: string): Uint8Array {
  const rest = ` ${key}=${value}\n`;
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len++;
  return ascii(String(len) + rest);
}

/** A PAX 'x' header with this body. */
function paxMember(body: Uint8Array, size: number | bigint = body.length): Uint8Array {
  return member({ name: "PaxHeaders/x", typeflag: "x", size }, body);
}

test("(f) a PAX header claiming a huge body is refused before anything is buffered", TIMEOUT, async () => {
  const tar = tarOf(paxMember(new Uint8Array(512), 2n ** 40n), member({ name: "f", typeflag: "0" }));
  await rejectsExactly(build(gz(tar)), `Cannot read tar archive: x header body of 1099511627776 bytes exceeds 1048576 ${IN_LAYER}, at uncompressed offset 0)`);
});

test("(f) a PAX record longer than its body, or a PAX size out of range, is refused where the PAX body is", TIMEOUT, async () => {
  const then = member({ name: "f", typeflag: "0" });
  const cases: Array<[Uint8Array, string]> = [
    [ascii("99999999 path=x\n"), `PAX record with a bad length ${IN_LAYER}, at uncompressed offset 512)`], // claims 99999999 bytes
    [paxRecord("size", "99999999999999999999"), `invalid PAX size ${IN_LAYER}, at uncompressed offset 1024)`], // > 2^63
    [paxRecord("size", "-5"), `negative size ${IN_LAYER}, at uncompressed offset 1024)`],
    // 2^40 bytes on a tiny layer: like a header size, the data runs out.
    [paxRecord("size", "1099511627776"), `unexpected end of archive ${IN_LAYER}, at uncompressed offset 2560)`],
  ];
  for (const [body, message] of cases) await rejectsExactly(build(gz(tarOf(paxMember(body), then))), `Cannot read tar archive: ${message}`);
});

// ---------------------------------------------------------------- (g) bomb

/**
 * A gzip member holding `header` followed by at least `zeros` zero bytes, at
 * DEFLATE's maximum ratio (~1032:1: a dynamic block of 2-bit length-258,
 * distance-1 matches), made by stretching the zero run inside zlib's own
 * block. DEFLATE cannot do better, so "gigabytes from 1 KB" is not
 * possible; a 1 GiB file takes ~1 MiB. Returns the blob and its inflated size.
 */
function zeroBomb(header: Uint8Array, zeros: number): { blob: Uint8Array; total: number } {
  const zeros0 = 258 * 8000;
  const raw = zlib.deflateRawSync(Buffer.concat([header, Buffer.alloc(zeros0)]), { level: 9 });
  // The longest run of 0x00 bytes: each byte is four such matches.
  let best = [0, 0];
  for (let i = 0, start = 0; i <= raw.length; i++) {
    if (i < raw.length && raw[i] === 0) continue;
    if (i - start > best[1] - best[0]) best = [start, i];
    start = i + 1;
  }
  assert.ok(best[1] - best[0] > 100, "zlib made one long run of matches");
  const extra = Math.max(0, Math.ceil((zeros - zeros0) / 1032));
  const mid = (best[0] + best[1]) >> 1;
  const deflated = Buffer.concat([raw.subarray(0, mid), Buffer.alloc(extra), raw.subarray(mid)]);
  const total = header.length + zeros0 + extra * 1032;
  let crc = zlib.crc32(header);
  const mib = Buffer.alloc(1 << 20);
  for (let left = total - header.length; left > 0; left -= mib.length) crc = zlib.crc32(mib.subarray(0, Math.min(left, mib.length)), crc);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0); // CRC-32
  trailer.writeUInt32LE(total % 2 ** 32, 4); // ISIZE
  const gzipHeader = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]); // magic, CM 8, no flags, MTIME 0, XFL 0, OS 255
  return { blob: new Uint8Array(Buffer.concat([gzipHeader, deflated, trailer])), total };
}

test("(g) the zero-bomb construction inflates as intended (checked with node:zlib on a small one)", () => {
  const header = rawHeader({ name: "zeros", typeflag: "0", size: 5_000_000 });
  const { blob, total } = zeroBomb(header, 5_000_000 + 1024);
  const out = zlib.gunzipSync(blob);
  assert.equal(out.length, total);
  assert.ok(total >= 512 + 5_000_000 + 1024);
  assert.deepEqual(out.subarray(0, 512), Buffer.from(header));
  assert.ok(out.subarray(512).every((b) => b === 0));
});

test("(g) a ~1 MiB gzip inflating to 1 GiB of zeros in one tar entry builds in bounded memory and time", TIMEOUT, async (t) => {
  const size = 2 ** 30;
  const { blob } = zeroBomb(rawHeader({ name: "zeros", typeflag: "0", size }), size + 1024);
  assert.ok(blob.length < 1.1 * 2 ** 20, `bomb is ${blob.length} bytes`);
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const started = Date.now();
  const built = await buildZtoc(unevenChunks(blob, [65536]), {
    compression: "gzip", spanSize: 4 << 20, buildToolIdentifier: TOOL, source: SOURCE,
    onProgress: () => (peak = Math.max(peak, process.memoryUsage().rss)),
  });
  const seconds = (Date.now() - started) / 1000;
  const z = built.ztoc;
  assert.equal(z.toc.length, 1);
  assert.deepEqual([z.toc[0].uncompressedOffset, z.toc[0].uncompressedSize], [512, size]);
  assert.equal(z.uncompressedArchiveSize, 512 + size + 1024);
  // One deflate block, so one span: checkpoints can only sit at block boundaries (formats §4.4).
  assert.equal(z.spanDigests.length, 1);
  assert.ok(peak - rss0 < 256 * 2 ** 20, `RSS grew by ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(seconds < 60, `took ${seconds} s`);
  t.diagnostic(`${blob.length}-byte gzip, 1 GiB file: built in ${seconds.toFixed(1)} s, RSS +${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`);
});

test("(g) a header claiming 2^40 bytes over 256 MiB of inflated zeros fails where the data ends", TIMEOUT, async () => {
  const { blob, total } = zeroBomb(rawHeader({ name: "zeros", typeflag: "0", size: 2n ** 40n }), 2 ** 28);
  await rejectsExactly(build(blob), `Cannot read tar archive: unexpected end of archive ${IN_LAYER}, at uncompressed offset ${total})`);
});

// ---------------------------------------------------------------- (h) garbage, (i) empty

test("(h) random garbage fails at the first byte, as gzip and as a plain tar", TIMEOUT, async () => {
  let seed = 7;
  const garbage = Uint8Array.from({ length: 100_000 }, () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) & 0xff);
  garbage[0] = 0x40;
  await rejectsExactly(build(garbage), `Cannot parse gzip header: bad magic byte 0x40 ${IN_LAYER}, at compressed offset 0)`);
  await rejectsExactly(build(garbage, { compression: "uncompressed" }), `Cannot read tar archive: header checksum mismatch ${IN_LAYER}, at uncompressed offset 0)`);
  // Garbage behind a valid gzip header is a deflate error just after it.
  const g = garbage.slice();
  g.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
  await assert.rejects(build(g), (e: unknown) =>
    e instanceof FormatError && /^Cannot inflate gzip data: .+ \(in "sha256:1{64}", at compressed offset \d+\)$/.test(e.message) && e.location.compressedOffset! < 100);
  // A gzip whose content is garbage (valid compression, not a tar).
  await rejectsExactly(build(gz(garbage)), `Cannot read tar archive: header checksum mismatch ${IN_LAYER}, at uncompressed offset 0)`);
});

test("(i) an empty blob is an error as gzip; as a plain tar it is an empty archive with no spans (as upstream)", TIMEOUT, async () => {
  await rejectsExactly(build(new Uint8Array(0)), `Cannot inflate gzip data: the input is empty ${IN_LAYER}, at compressed offset 0)`);
  const built = await build(new Uint8Array(0), { compression: "uncompressed" });
  assert.deepEqual(built.ztoc.toc, []);
  assert.equal(built.ztoc.uncompressedArchiveSize, 0);
  assert.deepEqual(built.ztoc.spanDigests, []);
  assert.equal(built.ztoc.maxSpanId, -1); // formats §5: floor(0/span) − 1
  assert.deepEqual(built.warnings, ["the tar archive has no end-of-archive marker"]);
  assert.deepEqual(decodeZtoc(built.bytes), built.ztoc);
  // Descriptor says something else: the size is named.
  await rejectsExactly(build(new Uint8Array(0), { expectedSize: 10 }), `Cannot build zTOC: the layer blob is 0 bytes, expected 10 ${IN_LAYER})`);
});
