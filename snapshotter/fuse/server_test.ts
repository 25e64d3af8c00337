// FuseServer against a fake transport: INIT bytes, replies decoded field by
// field, EROFS/ENOSYS/ENODATA rules, INTERRUPT, hostile messages, failing handlers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BIG_SIZE, buildFixtureTree, HELLO, HELLO_MTIME, MemFs, patternBytes } from "../../test/fakes/memfs.ts";
import { cname, decodeReply, FakeTransport, le, request, type DecodedReply } from "./_fake_transport_test_util.ts";
import * as P from "./protocol.ts";
import { FuseServer, OPCODE_TABLE, type FuseServerOptions } from "./server.ts";
import { decodeAttr, readU64 } from "./structs.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** fuse_init_in as kernel 6.18 sends it (fuse.md §5): 7.45, readahead 128 KiB. */
function initBody(major = 7, minor = 45, flags = 0x73fffffb, flags2 = 0x5fd): Uint8Array {
  return le(["u32", major], ["u32", minor], ["u32", 131072], ["u32", flags], ["u32", flags2], ["bytes", new Uint8Array(44)]);
}

async function setup(options: FuseServerOptions = {}) {
  const { fs, bigSha256 } = buildFixtureTree();
  const logs: string[] = [];
  const server = new FuseServer(fs, { log: (l) => logs.push(l), ...options });
  const t = new FakeTransport();
  /** Sends one request, returns its reply (or null if none was written). */
  const call = async (opcode: number, nodeid: number, body?: Uint8Array): Promise<DecodedReply | null> => {
    const before = t.replies.length;
    const req = request(opcode, nodeid, body);
    await server.handle(req, t);
    if (t.replies.length === before) return null;
    const r = decodeReply(t.replies[t.replies.length - 1]);
    assert.equal(r.len, t.replies[t.replies.length - 1].length, "header len = bytes written");
    assert.equal(r.unique, new DataView(req.buffer).getBigUint64(8, true), "unique echoed");
    return r;
  };
  const init = await call(P.FUSE_INIT, 0, initBody());
  assert.equal(init!.error, 0);
  return { fs, bigSha256, server, t, logs, call };
}

/** fuse_read_in; lock_owner is a kernel hash with the top bits set, as observed. */
const readIn = (fh: number, offset: number, size: number) =>
  le(["u64", fh], ["u64", offset], ["u32", size], ["u32", 0], ["u64", 0xfedcba9876543210n], ["u32", 0], ["u32", 0]);

describe("FuseServer", () => {
  test("INIT negotiates 7.38 and the read-only capability set (fuse.md §5)", async () => {
    const server = new FuseServer(new MemFs());
    const t = new FakeTransport();
    await server.handle(request(P.FUSE_INIT, 0, initBody()), t);
    const r = decodeReply(t.replies[0]);
    assert.equal(r.error, 0);
    assert.equal(r.len, 16 + 64);
    const b = r.body;
    assert.equal(b.u32(), 7, "major");
    assert.equal(b.u32(), 38, "minor = min(45, 38)");
    assert.equal(b.u32(), 131072, "max_readahead ≤ kernel's");
    assert.equal(b.u32(), 0x02c46001, "flags: ASYNC_READ DO_READDIRPLUS READDIRPLUS_AUTO PARALLEL_DIROPS MAX_PAGES CACHE_SYMLINKS EXPLICIT_INVAL_DATA");
    assert.equal(b.u16(), 64, "max_background");
    assert.equal(b.u16(), 48, "congestion_threshold");
    assert.equal(b.u32(), 131072, "max_write");
    assert.equal(b.u32(), 1, "time_gran");
    assert.equal(b.u16(), 256, "max_pages");
    assert.equal(b.u16(), 0, "map_alignment");
    assert.equal(b.u32(), 0, "flags2");
    assert.deepEqual([...b.take(28)], new Array(28).fill(0), "unused");
    assert.equal(server.readBufferSize, 40 + 40 + 131072);
  });

  test("INIT only grants offered flags, adds EXPORT_SUPPORT on request, and honours old minors", async () => {
    const server = new FuseServer(new MemFs(), { exportSupport: true, maxReadahead: 65536 });
    const t = new FakeTransport();
    await server.handle(request(P.FUSE_INIT, 0, initBody(7, 22, P.FUSE_ASYNC_READ | P.FUSE_EXPORT_SUPPORT | P.FUSE_POSIX_LOCKS, 0).subarray(0, 16)), t);
    const r = decodeReply(t.replies[0]);
    assert.equal(r.len, 16 + 24, "7.22 reply is the 24-byte compat init_out");
    assert.equal(r.body.u32(), 7);
    assert.equal(r.body.u32(), 22);
    assert.equal(r.body.u32(), 65536);
    assert.equal(r.body.u32(), P.FUSE_ASYNC_READ | P.FUSE_EXPORT_SUPPORT);
  });

  test("INIT from a newer major answers 7.38 without negotiating; an older major gets EPROTO", async () => {
    const server = new FuseServer(new MemFs(), { log: () => {} });
    const t = new FakeTransport();
    await server.handle(request(P.FUSE_INIT, 0, initBody(8, 1)), t);
    const r = decodeReply(t.replies[0]);
    assert.equal(r.error, 0);
    assert.equal(r.body.u32(), 7);
    assert.equal(r.body.u32(), 38);
    assert.equal(server.negotiated, null);
    await server.handle(request(P.FUSE_GETATTR, 1, new Uint8Array(16)), t);
    assert.equal(decodeReply(t.replies[1]).error, -P.EIO, "requests before INIT fail");
    await server.handle(request(P.FUSE_INIT, 0, initBody(6, 1)), t);
    assert.equal(decodeReply(t.replies[2]).error, -P.EPROTO);
  });

  test("LOOKUP replies fuse_entry_out with the node's attributes", async () => {
    const { call, fs } = await setup();
    const r = (await call(P.FUSE_LOOKUP, 1, cname("hello.txt")))!;
    assert.equal(r.error, 0);
    assert.equal(r.len, 16 + 128);
    const id = fs.resolve("hello.txt");
    assert.equal(readU64(r.body), id, "nodeid");
    assert.equal(readU64(r.body), 0, "generation");
    assert.equal(readU64(r.body), 1, "entry_valid");
    assert.equal(readU64(r.body), 1, "attr_valid");
    assert.equal(r.body.u32(), 0, "entry_valid_nsec");
    assert.equal(r.body.u32(), 0, "attr_valid_nsec");
    const a = decodeAttr(r.body);
    assert.equal(a.ino, id);
    assert.equal(a.size, HELLO.length);
    assert.equal(a.blocks, 8);
    assert.equal(a.mtimeSec, Math.floor(HELLO_MTIME));
    assert.ok(Math.abs(a.mtimeNsec - 123456789) < 200, `mtime nsec ${a.mtimeNsec}`);
    assert.equal(a.mode, P.S_IFREG | 0o644);
    assert.equal(a.nlink, 1);
    assert.equal(a.uid, 1000);
    assert.equal(a.gid, 1000);
    assert.equal(a.blksize, 4096);
    assert.equal(r.body.remaining, 0);
    assert.equal(fs.lookupCounts.get(id), 1);
  });

  test("LOOKUP of a missing name is a cached negative entry, or ENOENT with negativeTimeout 0", async () => {
    const { call } = await setup();
    const r = (await call(P.FUSE_LOOKUP, 1, cname("nope")))!;
    assert.equal(r.error, 0);
    assert.equal(readU64(r.body), 0, "nodeid 0");
    readU64(r.body);
    assert.equal(readU64(r.body), 1, "entry_valid = negative timeout");
    const s2 = await setup({ negativeTimeout: 0 });
    assert.equal((await s2.call(P.FUSE_LOOKUP, 1, cname("nope")))!.error, -P.ENOENT);
  });

  test("GETATTR replies fuse_attr_out; device rdev and hard-link nlink come through", async () => {
    const { call, fs } = await setup();
    const r = (await call(P.FUSE_GETATTR, fs.resolve("null"), le(["u32", 0], ["u32", 0], ["u64", 0])))!;
    assert.equal(r.len, 16 + 104);
    assert.equal(readU64(r.body), 1, "attr_valid");
    assert.equal(r.body.u32(), 0, "attr_valid_nsec");
    r.body.u32(); // dummy
    const a = decodeAttr(r.body);
    assert.equal(a.mode, P.S_IFCHR | 0o666);
    assert.equal(a.rdev, (1 << 8) | 3, "makedev(1, 3)");
    const h = (await call(P.FUSE_GETATTR, fs.resolve("dir/hard2"), new Uint8Array(16)))!;
    h.body.take(16);
    const ha = decodeAttr(h.body);
    assert.equal(ha.nlink, 2);
    assert.equal(ha.ino, fs.resolve("hard1"));
    const root = (await call(P.FUSE_GETATTR, 1, new Uint8Array(16)))!;
    root.body.take(16);
    assert.equal(decodeAttr(root.body).nlink, 3, "root: 2 + one subdirectory");
  });

  test("READ returns exactly the requested range and 0 bytes at EOF", async () => {
    const { call, fs } = await setup();
    const hello = fs.resolve("hello.txt");
    const r = (await call(P.FUSE_READ, hello, readIn(hello, 0, 4096)))!;
    assert.equal(dec.decode(r.body.take(r.body.remaining)), HELLO);
    const big = fs.resolve("big.bin");
    const want = patternBytes(BIG_SIZE);
    const off = 3 * 1024 * 1024 + 7;
    const b = (await call(P.FUSE_READ, big, readIn(big, off, 131072)))!;
    assert.equal(b.len, 16 + 131072);
    assert.deepEqual(b.body.take(131072), want.subarray(off, off + 131072));
    const tail = (await call(P.FUSE_READ, big, readIn(big, BIG_SIZE - 10, 4096)))!;
    assert.equal(tail.len, 16 + 10, "short only where the file ends");
    assert.equal((await call(P.FUSE_READ, big, readIn(big, BIG_SIZE, 4096)))!.len, 16);
    assert.equal((await call(P.FUSE_READ, big, readIn(big, 0, 64 * 1024 * 1024)))!.error, -P.EINVAL, "size above max_read");
  });

  test("READDIRPLUS packs 8-aligned direntplus records with next-entry cookies", async () => {
    const { call, fs } = await setup();
    const r = (await call(P.FUSE_READDIRPLUS, 1, readIn(1, 0, 4096)))!;
    assert.equal(r.error, 0);
    const seen: { name: string; ino: number; off: number; type: number; nodeid: number; mode: number }[] = [];
    while (r.body.remaining > 0) {
      const start = r.body.pos;
      const nodeid = readU64(r.body);
      r.body.take(32); // generation, entry_valid, attr_valid, nsecs
      const attr = decodeAttr(r.body);
      const ino = readU64(r.body);
      const off = readU64(r.body);
      const namelen = r.body.u32();
      const type = r.body.u32();
      const name = dec.decode(r.body.take(namelen));
      const pad = (8 - ((24 + namelen) % 8)) % 8;
      assert.deepEqual([...r.body.take(pad)], new Array(pad).fill(0), "zero padding");
      assert.equal((r.body.pos - start) % 8, 0);
      assert.equal(ino, attr.ino);
      seen.push({ name, ino, off, type, nodeid, mode: attr.mode });
    }
    assert.deepEqual(seen.map((s) => s.name), [".", "..", "big.bin", "dir", "hard1", "hello.txt", "link", "null", "plain.txt", "suid"]);
    assert.deepEqual(seen.map((s) => s.off), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const byName = Object.fromEntries(seen.map((s) => [s.name, s]));
    assert.equal(byName.dir.type, 4, "DT_DIR");
    assert.equal(byName.link.type, 10, "DT_LNK");
    assert.equal(byName.null.type, 2, "DT_CHR");
    assert.equal(byName["hello.txt"].type, 8, "DT_REG");
    assert.equal(byName.hard1.nodeid, fs.resolve("dir/hard2"));
    // Continue from a cookie; the end of the directory is an empty reply.
    const rest = (await call(P.FUSE_READDIRPLUS, 1, readIn(1, 8, 4096)))!;
    assert.ok(rest.len > 16);
    assert.equal((await call(P.FUSE_READDIRPLUS, 1, readIn(1, 10, 4096)))!.len, 16);
    // A buffer for two records returns two.
    const two = (await call(P.FUSE_READDIRPLUS, 1, readIn(1, 0, 2 * 160)))!;
    assert.equal(two.len, 16 + 2 * 160);
    assert.equal((await call(P.FUSE_READDIRPLUS, 1, readIn(1, 0, 100)))!.error, -P.EINVAL, "buffer too small for one record");
  });

  test("READDIR packs plain dirents; READLINK returns the target", async () => {
    const { call, fs } = await setup();
    const r = (await call(P.FUSE_READDIR, fs.resolve("dir"), readIn(0, 0, 4096)))!;
    const names: string[] = [];
    while (r.body.remaining > 0) {
      readU64(r.body);
      readU64(r.body);
      const n = r.body.u32();
      r.body.u32();
      names.push(dec.decode(r.body.take(n)));
      r.body.take((8 - ((24 + n) % 8)) % 8);
    }
    assert.deepEqual(names, [".", "..", "hard2", "nested"]);
    const l = (await call(P.FUSE_READLINK, fs.resolve("link")))!;
    assert.equal(dec.decode(l.body.take(l.body.remaining)), "hello.txt");
    assert.equal((await call(P.FUSE_READLINK, fs.resolve("hello.txt")))!.error, -P.EINVAL);
  });

  test("OPEN keeps the page cache; write access and every write opcode answer EROFS", async () => {
    const { call, fs } = await setup();
    const hello = fs.resolve("hello.txt");
    const o = (await call(P.FUSE_OPEN, hello, le(["u32", 0], ["u32", 0])))!;
    assert.equal(o.error, 0);
    assert.equal(readU64(o.body), hello, "fh");
    assert.equal(o.body.u32(), P.FOPEN_KEEP_CACHE);
    for (const mode of [1, 2]) assert.equal((await call(P.FUSE_OPEN, hello, le(["u32", mode], ["u32", 0])))!.error, -P.EROFS);
    const writes = [P.FUSE_SETATTR, P.FUSE_SYMLINK, P.FUSE_MKNOD, P.FUSE_MKDIR, P.FUSE_UNLINK, P.FUSE_RMDIR, P.FUSE_RENAME,
      P.FUSE_LINK, P.FUSE_WRITE, P.FUSE_SETXATTR, P.FUSE_REMOVEXATTR, P.FUSE_CREATE, P.FUSE_FALLOCATE, P.FUSE_RENAME2,
      P.FUSE_COPY_FILE_RANGE, P.FUSE_TMPFILE];
    for (const op of writes) assert.equal((await call(op, 1, new Uint8Array(64)))!.error, -P.EROFS, P.opcodeName(op));
    for (const op of [P.FUSE_FLUSH, P.FUSE_FSYNC, P.FUSE_FSYNCDIR, P.FUSE_RELEASE, P.FUSE_RELEASEDIR]) {
      const r = (await call(op, hello, new Uint8Array(24)))!;
      assert.deepEqual([r.error, r.len], [0, 16], P.opcodeName(op));
    }
  });

  test("unknown and unimplemented opcodes answer ENOSYS", async () => {
    const { call } = await setup();
    for (const op of [P.FUSE_STATX, P.FUSE_IOCTL, P.FUSE_LSEEK, P.FUSE_GETLK, P.FUSE_BMAP, 999, 0]) {
      assert.equal((await call(op, 1, new Uint8Array(16)))!.error, -P.ENOSYS, `opcode ${op}`);
    }
    assert.equal(OPCODE_TABLE[P.FUSE_STATX], undefined);
  });

  test("GETXATTR: ENODATA (never ENOSYS) without xattrs, size probe, ERANGE, value", async () => {
    const { call, fs } = await setup();
    const plain = fs.resolve("plain.txt");
    const hello = fs.resolve("hello.txt");
    const gx = (size: number, name: string) => le(["u32", size], ["u32", 0], ["bytes", cname(name)]);
    assert.equal((await call(P.FUSE_GETXATTR, plain, gx(0, "security.capability")))!.error, -P.ENODATA);
    assert.equal((await call(P.FUSE_GETXATTR, plain, gx(256, "user.x")))!.error, -P.ENODATA);
    const probe = (await call(P.FUSE_GETXATTR, hello, gx(0, "user.greeting")))!;
    assert.deepEqual([probe.len, probe.body.u32(), probe.body.u32()], [16 + 8, 2, 0]);
    assert.equal((await call(P.FUSE_GETXATTR, hello, gx(1, "user.greeting")))!.error, -P.ERANGE);
    const v = (await call(P.FUSE_GETXATTR, hello, gx(64, "user.greeting")))!;
    assert.equal(dec.decode(v.body.take(v.body.remaining)), "hi");
    const empty = (await call(P.FUSE_GETXATTR, hello, gx(64, "user.empty")))!;
    assert.deepEqual([empty.error, empty.len], [0, 16]);
  });

  test("LISTXATTR: NUL-terminated names, empty list for none, probe and ERANGE", async () => {
    const { call, fs } = await setup();
    const lx = (size: number) => le(["u32", size], ["u32", 0]);
    const none = (await call(P.FUSE_LISTXATTR, fs.resolve("plain.txt"), lx(0)))!;
    assert.deepEqual([none.error, none.body.u32()], [0, 0]);
    const hello = fs.resolve("hello.txt");
    const list = "user.greeting\0user.empty\0";
    assert.equal((await call(P.FUSE_LISTXATTR, hello, lx(0)))!.body.u32(), list.length);
    assert.equal((await call(P.FUSE_LISTXATTR, hello, lx(5)))!.error, -P.ERANGE);
    const full = (await call(P.FUSE_LISTXATTR, hello, lx(4096)))!;
    assert.equal(dec.decode(full.body.take(full.body.remaining)), list);
  });

  test("disableXattrs answers the xattr opcodes ENOSYS on purpose (snapshotter §8.5)", async () => {
    const { call } = await setup({ disableXattrs: true });
    assert.equal((await call(P.FUSE_GETXATTR, 1, le(["u32", 0], ["u32", 0], ["bytes", cname("user.a")])))!.error, -P.ENOSYS);
    assert.equal((await call(P.FUSE_LISTXATTR, 1, le(["u32", 0], ["u32", 0])))!.error, -P.ENOSYS);
  });

  test("STATFS replies fuse_kstatfs; ACCESS succeeds", async () => {
    const { call } = await setup();
    const r = (await call(P.FUSE_STATFS, 1))!;
    assert.equal(r.len, 16 + 80);
    r.body.take(40);
    assert.deepEqual([r.body.u32(), r.body.u32(), r.body.u32()], [4096, 255, 4096], "bsize namelen frsize");
    assert.deepEqual([(await call(P.FUSE_ACCESS, 1, le(["u32", 4], ["u32", 0])))!.error], [0]);
  });

  test("FORGET and BATCH_FORGET are never answered and reach the filesystem", async () => {
    const { call, fs } = await setup();
    const hello = fs.resolve("hello.txt");
    await call(P.FUSE_LOOKUP, 1, cname("hello.txt"));
    await call(P.FUSE_LOOKUP, 1, cname("hello.txt"));
    assert.equal(await call(P.FUSE_FORGET, hello, le(["u64", 1])), null);
    assert.equal(fs.lookupCounts.get(hello), 1);
    assert.equal(await call(P.FUSE_BATCH_FORGET, 0, le(["u32", 1], ["u32", 0], ["u64", hello], ["u64", 1])), null);
    assert.equal(fs.lookupCounts.get(hello), 0);
  });

  test("INTERRUPT is not answered; the interrupted handler's failure becomes EINTR", async () => {
    const { server, t, fs } = await setup();
    const hello = fs.resolve("hello.txt");
    fs.readDelayMs.set(hello, 5000);
    const slow = server.handle(request(P.FUSE_READ, hello, readIn(hello, 0, 4096), 5000n), t);
    assert.equal(server.inFlight, 1);
    await server.handle(request(P.FUSE_INTERRUPT, 0, le(["u64", 5000n]), 5001n), t);
    await server.handle(request(P.FUSE_INTERRUPT, 0, le(["u64", 77n]), 79n), t); // unknown: ignored
    await slow;
    const replies = t.replies.map(decodeReply);
    assert.equal(replies.filter((r) => r.unique === 5001n || r.unique === 79n).length, 0, "no reply to INTERRUPT");
    const r = replies.find((x) => x.unique === 5000n)!;
    assert.equal(r.error, -P.EINTR);
    assert.equal(fs.interruptedReads, 1);
    assert.equal(server.inFlight, 0);
  });

  test("truncated, oversized and garbage messages cost one request, never the loop", async () => {
    const { server, t, logs, call, fs } = await setup();
    await server.handle(new Uint8Array(10), t); // shorter than fuse_in_header: dropped
    assert.equal(t.replies.length, 1);
    assert.match(logs.at(-1)!, /dropped a 10-byte message/);
    const lying = request(P.FUSE_GETATTR, 1, new Uint8Array(16), 900n);
    new DataView(lying.buffer).setUint32(0, 4000, true); // header len ≠ bytes read
    await server.handle(lying, t);
    assert.equal(decodeReply(t.replies.at(-1)!).error, -P.EINVAL);
    assert.match(logs.at(-1)!, /unique=900 nodeid=1/);
    assert.equal((await call(P.FUSE_LOOKUP, 1, enc.encode("no-nul")))!.error, -P.EINVAL);
    assert.equal((await call(P.FUSE_READ, fs.resolve("hello.txt"), new Uint8Array(12)))!.error, -P.EINVAL);
    assert.equal((await call(P.FUSE_GETXATTR, 1, le(["u32", 0])))!.error, -P.EINVAL);
    assert.equal((await call(P.FUSE_INIT, 0, new Uint8Array(4)))!.error, -P.EINVAL);
    const big = le(["u32", 0xffffffff], ["u32", 0], ["u64", 1], ["u64", 1]);
    assert.equal(await call(P.FUSE_BATCH_FORGET, 0, big), null, "count overrunning the body: dropped");
    assert.match(logs.at(-1)!, /BATCH_FORGET/);
    const ext = request(P.FUSE_GETATTR, 1, new Uint8Array(16), 902n);
    new DataView(ext.buffer).setUint16(36, 1000, true); // total_extlen beyond the message
    await server.handle(ext, t);
    assert.equal(decodeReply(t.replies.at(-1)!).error, -P.EINVAL);
    // Random bytes with a plausible header: every one answered or dropped, no throw.
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const body = Uint8Array.from({ length: rnd() % 96 }, rnd);
      const req = request(rnd() % 60, rnd() % 20, body, BigInt(10000 + 2 * i));
      if (i % 7 === 0) new DataView(req.buffer).setUint32(0, rnd(), true);
      await server.handle(req, t);
    }
    assert.equal((await call(P.FUSE_GETATTR, 1, new Uint8Array(16)))!.error, 0, "still serving");
  });

  test("a throwing handler answers EIO with one log line and the serve loop continues", async () => {
    const { fs } = buildFixtureTree();
    const logs: string[] = [];
    const server = new FuseServer(fs, { log: (l) => logs.push(l) });
    const t = new FakeTransport();
    fs.failOn = (op) => op === "getattr";
    const loop = server.serve(t);
    t.push(request(P.FUSE_INIT, 0, initBody(), 2n));
    t.push(request(P.FUSE_GETATTR, 7, new Uint8Array(16), 4n));
    t.push(request(P.FUSE_LOOKUP, 1, cname("hello.txt"), 6n));
    t.end();
    await loop;
    await new Promise((r) => setImmediate(r));
    const byUnique = new Map(t.replies.map((b) => [decodeReply(b).unique, decodeReply(b)]));
    assert.equal(byUnique.get(4n)!.error, -P.EIO);
    assert.equal(byUnique.get(6n)!.error, 0);
    assert.equal(logs.length, 1);
    assert.match(logs[0], /GETATTR unique=4 nodeid=7 failed: injected failure in getattr/);
    assert.ok(fs.destroyed, "destroy() once the transport ends");
  });

  test("a reply the kernel no longer wants (ENOENT on write) is ignored silently", async () => {
    const { server, t, logs } = await setup();
    t.failWrites = "ENOENT";
    await server.handle(request(P.FUSE_GETATTR, 1, new Uint8Array(16)), t);
    t.failWrites = "EINVAL";
    await server.handle(request(P.FUSE_GETATTR, 1, new Uint8Array(16)), t);
    assert.equal(logs.length, 1);
    assert.match(logs[0], /cannot write reply/);
  });
});
