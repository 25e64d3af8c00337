// The tables the FUSE device readers answer LOOKUP and GETATTR from
// (fast_replies.ts) hold exactly the bytes FuseServer would send: checked for
// every entry and node of the real tricky fixture layers through LayerFs, with
// the layer mounts' timeouts, plus a miss and the names left to the server.
// (In layerfs/: the fuse folder may not import layerfs.)
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { ensureFixtureImages, loadFixtureLayers, BytesLayerReader, type FixtureLayer } from "../../test/fakes/layer_fixture.ts";
import {
  buildFastReplies, ENODATA, ENOSYS, FUSE_FLUSH, FUSE_GETATTR, FUSE_GETXATTR, FUSE_INIT, FUSE_LOOKUP, FUSE_OPEN, FUSE_OPENDIR, FUSE_READLINK, FUSE_RELEASE, FUSE_RELEASEDIR,
  FuseServer, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type FuseTransport,
} from "../fuse/mod.ts";
import { LAYER_CACHE_TIMEOUTS, LayerFs } from "./mod.ts";

/** A request as the kernel sends it: fuse_in_header (40 bytes) + body. */
let unique = 100n;
function request(opcode: number, nodeid: number, body: Uint8Array): Uint8Array {
  const b = new Uint8Array(40 + body.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, b.length, true);
  v.setUint32(4, opcode, true);
  v.setBigUint64(8, (unique += 2n), true);
  v.setBigUint64(16, BigInt(nodeid), true);
  b.set(body, 40);
  return b;
}
/** fuse_init_in of kernel 6.18 (7.45), the rest zero. */
function initBody(): Uint8Array {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  [7, 45, 131072, 0x73fffffb, 0x5fd].forEach((x, i) => v.setUint32(i * 4, x, true));
  return b;
}
class Capture implements FuseTransport {
  last = new Uint8Array(0);
  next(): Promise<Uint8Array | null> {
    return Promise.resolve(null);
  }
  write(reply: Uint8Array): void {
    this.last = reply.slice();
  }
}

let tricky: FixtureLayer[] = [];
before(async () => {
  await ensureFixtureImages(["tricky"]);
  tricky = await loadFixtureLayers("tricky");
}, { timeout: 600_000 });

const latin1Bytes = (s: string) => Uint8Array.from([...s].map((c) => c.charCodeAt(0)));

/** fuse_getxattr_in (size, padding) + the NUL-terminated name. */
function getxattrBody(name: string, size: number): Uint8Array {
  const b = new Uint8Array(8 + name.length + 1);
  new DataView(b.buffer).setUint32(0, size, true);
  b.set(latin1Bytes(name), 8);
  return b;
}
/** The reply the readers send for a tabled GETXATTR miss: a bare header with -errno. */
function errorReply(errno: number, request: Uint8Array): Uint8Array {
  const r = new Uint8Array(16);
  const v = new DataView(r.buffer);
  v.setUint32(0, 16, true);
  v.setInt32(4, -errno, true);
  r.set(request.subarray(8, 16), 8);
  return r;
}
const XATTR_NAMES = ["trusted.overlay.opaque", "user.overlay.opaque", "trusted.overlay.redirect", "trusted.overlay.metacopy", "user.mime_type", "security.capability"];

test("fast replies are byte for byte the server's LOOKUP, GETATTR, OPEN, OPENDIR, READLINK, FLUSH, RELEASE(DIR) and GETXATTR-miss replies, for every entry and node of the tricky layers", { timeout: 600_000 }, async () => {
  let compared = 0;
  let opens = 0, links = 0, dirs = 0, xattrMisses = 0, xattrForwarded = 0;
  for (const l of tricky) {
    if (/PAX sparse/.test(l.note)) continue; // not a tree LayerFs serves (layer_fs_test)
    const fs = new LayerFs(l.toc, new BytesLayerReader(l.tar), { layerDigest: l.digest });
    const server = new FuseServer(fs, { ...LAYER_CACHE_TIMEOUTS, log: () => {} });
    const t = new Capture();
    await server.handle(request(FUSE_INIT, 0, initBody()), t);
    const body = async (op: number, nodeid: number, b: Uint8Array) => {
      await server.handle(request(op, nodeid, b), t);
      return t.last.subarray(16);
    };
    const fast = buildFastReplies(fs.fastSource(), server, fs);
    for (const e of fs.fastSource().entries()) {
      const at = fast.lookups.get(`${e.parent}/${e.name}`)!;
      assert.deepEqual(fast.entries.subarray(at, at + 128), await body(FUSE_LOOKUP, e.parent, new Uint8Array([...latin1Bytes(e.name), 0])), `LOOKUP ${e.parent}/${JSON.stringify(e.name)}`);
      compared++;
    }
    const openIn = new Uint8Array(8); // fuse_open_in: flags O_RDONLY, open_flags 0
    const releaseIn = new Uint8Array(24);
    for (const x of fs.fastSource().nodes()) {
      const at = fast.attrAt[x.nodeid]!;
      assert.deepEqual(fast.attrs.subarray(at, at + 104), await body(FUSE_GETATTR, x.nodeid, new Uint8Array(16)), `GETATTR ${x.nodeid}`);
      const type = x.attr.mode & S_IFMT;
      if (type === S_IFREG) {
        const o = fast.openAt[x.nodeid]!;
        assert.ok(o >= 0);
        assert.deepEqual(fast.opens.subarray(o, o + 16), await body(FUSE_OPEN, x.nodeid, openIn), `OPEN ${x.nodeid}`);
        opens++;
      } else assert.equal(fast.openAt[x.nodeid], -1, "only regular files are opened here");
      if (type === S_IFLNK) {
        assert.deepEqual(fast.links.get(x.nodeid), await body(FUSE_READLINK, x.nodeid, new Uint8Array(0)), `READLINK ${x.nodeid}`);
        links++;
      }
      if (type === S_IFDIR) {
        assert.deepEqual(fast.opendir, await body(FUSE_OPENDIR, x.nodeid, openIn), `OPENDIR ${x.nodeid}`);
        dirs++;
      }
      assert.equal(fast.quiet[x.nodeid], 1);
      // GETXATTR: a tabled miss is exactly the server's error reply for any name and size; the rest is forwarded.
      assert.equal(fast.xattrErrno, ENODATA);
      if (fast.xattrMiss[x.nodeid] === 1) {
        assert.deepEqual(fs.listxattr(x.nodeid), [], `node ${x.nodeid} lists no xattr`);
        for (const name of XATTR_NAMES) {
          for (const size of [0, 256]) {
            const req = request(FUSE_GETXATTR, x.nodeid, getxattrBody(name, size));
            await server.handle(req, t);
            assert.deepEqual(t.last, errorReply(ENODATA, req), `GETXATTR ${x.nodeid} ${name} size ${size}`);
          }
        }
        xattrMisses++;
      } else {
        assert.ok(fs.listxattr(x.nodeid).length > 0, `node ${x.nodeid} is forwarded only when it has xattrs`);
        xattrForwarded++;
      }
      for (const op of [FUSE_FLUSH, FUSE_RELEASE, FUSE_RELEASEDIR]) {
        assert.deepEqual(await body(op, x.nodeid, op === FUSE_FLUSH ? new Uint8Array(24) : releaseIn), new Uint8Array(0), "an empty success reply");
      }
    }
    const stateFile = fs.resolvePath(".soci-snapshotter")!;
    assert.equal(fast.quiet[stateFile] ?? 0, 0);
    assert.deepEqual(fast.negative, await body(FUSE_LOOKUP, 1, new Uint8Array([...latin1Bytes("no-such-name"), 0])), "a miss: the server's negative entry");
    assert.deepEqual(fast.negative, await body(FUSE_LOOKUP, 1, new Uint8Array([...latin1Bytes(".wh.anything"), 0])), "whiteout names are never found");
    assert.equal(fast.dirs[1], 1);
    assert.ok(fast.forward.has("1/.soci-snapshotter"), "the §8.7 state directory is left to the server");
    const stateDir = fs.resolvePath(".soci-snapshotter")!;
    assert.equal(fast.attrAt[stateDir] ?? -1, -1);
    assert.equal(fast.dirs[stateDir] ?? 0, 0);
  }
  assert.ok(compared > 50, `${compared} entries compared`);
  assert.ok(opens > 10 && links > 0 && dirs > 2, `${opens} opens, ${links} links, ${dirs} dirs`);
  assert.ok(xattrMisses > 50 && xattrForwarded > 0, `${xattrMisses} GETXATTR misses tabled, ${xattrForwarded} nodes with xattrs forwarded`);
});

test("with xattrs disabled (com.amazon.soci.disable-xattrs) every node's GETXATTR is the server's ENOSYS", { timeout: 600_000 }, async () => {
  const l = tricky.find((x) => !/PAX sparse/.test(x.note))!;
  const fs = new LayerFs(l.toc, new BytesLayerReader(l.tar), { layerDigest: l.digest });
  const server = new FuseServer(fs, { ...LAYER_CACHE_TIMEOUTS, disableXattrs: true, log: () => {} });
  const t = new Capture();
  await server.handle(request(FUSE_INIT, 0, initBody()), t);
  const fast = buildFastReplies(fs.fastSource(), server, fs);
  assert.equal(fast.xattrErrno, ENOSYS);
  let n = 0;
  for (const x of fs.fastSource().nodes()) {
    assert.equal(fast.xattrMiss[x.nodeid], 1);
    const req = request(FUSE_GETXATTR, x.nodeid, getxattrBody(XATTR_NAMES[n % XATTR_NAMES.length]!, 0));
    await server.handle(req, t);
    assert.deepEqual(t.last, errorReply(ENOSYS, req));
    n++;
  }
  assert.ok(n > 10);
});
