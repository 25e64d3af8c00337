// READ replies go out as header + data in one writev when the transport has
// one (no joined reply buffer), and joined for a transport without it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BIG_SIZE, buildFixtureTree, patternBytes } from "../../test/fakes/memfs.ts";
import { decodeReply, FakeTransport, le, request } from "./_fake_transport_test_util.ts";
import * as P from "./protocol.ts";
import { FuseServer } from "./server.ts";

const initBody = () => le(["u32", 7], ["u32", 45], ["u32", 131072], ["u32", 0x73fffffb], ["u32", 0x5fd], ["bytes", new Uint8Array(44)]);
const readIn = (fh: number, offset: number, size: number) => le(["u64", fh], ["u64", offset], ["u32", size], ["u32", 0], ["u64", 0], ["u32", 0], ["u32", 0]);

class VecTransport extends FakeTransport {
  vectors: Uint8Array[][] = [];
  writev(parts: readonly Uint8Array[]): void {
    this.vectors.push([...parts]);
    const joined = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) joined.set(p, (at += p.length) - p.length);
    this.replies.push(joined);
  }
}

test("READ is written as [16-byte header, data] with one writev; other replies stay one buffer", async () => {
  const { fs } = buildFixtureTree();
  const server = new FuseServer(fs, { log: () => undefined });
  const t = new VecTransport();
  await server.handle(request(P.FUSE_INIT, 0, initBody()), t);
  assert.equal(t.vectors.length, 0, "INIT is one buffer");
  const big = fs.resolve("big.bin");
  const off = 1024 * 1024 + 3;
  await server.handle(request(P.FUSE_READ, big, readIn(big, off, 65536)), t);
  assert.equal(t.vectors.length, 1);
  const [head, body] = t.vectors[0];
  assert.equal(head.length, 16);
  assert.equal(body.length, 65536);
  const r = decodeReply(t.replies[t.replies.length - 1]);
  assert.equal(r.len, 16 + 65536, "the header's len counts both pieces");
  assert.equal(r.error, 0);
  assert.deepEqual(r.body.take(65536), patternBytes(BIG_SIZE).subarray(off, off + 65536));
});

test("READ through a transport without writev is joined into one correct reply", async () => {
  const { fs } = buildFixtureTree();
  const server = new FuseServer(fs, { log: () => undefined });
  const t = new FakeTransport();
  await server.handle(request(P.FUSE_INIT, 0, initBody()), t);
  const big = fs.resolve("big.bin");
  await server.handle(request(P.FUSE_READ, big, readIn(big, 5, 100)), t);
  const r = decodeReply(t.replies[t.replies.length - 1]);
  assert.equal(r.len, 116);
  assert.equal(t.replies[t.replies.length - 1].length, 116);
  assert.deepEqual(r.body.take(100), patternBytes(BIG_SIZE).subarray(5, 105));
});
