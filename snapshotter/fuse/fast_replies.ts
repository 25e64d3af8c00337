/**
 * Precomputed LOOKUP and GETATTR replies for a filesystem whose tree never
 * changes (a layer, snapshotter §8), so the device reader threads can answer
 * those two requests themselves instead of handing each to the main thread:
 * a round trip there costs ≈ 60 µs of thread hops and wake-ups against ≈ 2 µs
 * of handling (NOTES, session 4). The bodies are encoded here by the server's
 * own encoders with the server's timeouts, so a reader's reply is byte for
 * byte the one the server would send; a reader answers only names and nodes
 * it finds in the tables (plus the negative reply for an unknown name in a
 * known directory) and forwards everything else.
 *
 * Layout (plain data, structured-cloned to each reader): `entries` holds one
 * 128-byte fuse_entry_out per (directory, name) at the offset `lookups` maps
 * `"<dir id>/<name as latin1>"` to; `attrs` one 104-byte fuse_attr_out per
 * node at `attrAt` (−1: not answered here); `dirs[id]` = 1 for a directory
 * whose misses may be answered with `negative`, the entry_out of a miss
 * (nodeid 0, entry_valid = the negative timeout; null when the server answers
 * misses ENOENT: then they are forwarded); `forward` the `"<dir>/<name>"`
 * keys always left to the server (names it resolves specially).
 *
 * Not here: the reader loop (device.ts), which names to list (the filesystem).
 */
import type { FuseAttr } from "./file_system.ts";
import { S_IFDIR, S_IFMT } from "./protocol.ts";
import { ATTR_OUT_SIZE, ENTRY_OUT_SIZE, writeAttrOut, writeEntryOut, type Validity } from "./structs.ts";

export interface FastReplies {
  lookups: Map<string, number>;
  entries: Uint8Array;
  attrAt: Int32Array;
  attrs: Uint8Array;
  dirs: Uint8Array;
  negative: Uint8Array | null;
  forward: Set<string>;
}

export interface FastTimeouts {
  entryValid: Validity;
  attrValid: Validity;
  negativeValid: Validity;
}

/** What a static filesystem lists for the tables. */
export interface FastSource {
  /** Every child of every directory reachable by LOOKUP, with the entry LOOKUP returns. */
  entries(): Iterable<{ parent: number; name: string; nodeid: number; attr: FuseAttr }>;
  /** Every node GETATTR may be answered for from the table (directories among them get negative lookups). */
  nodes(): Iterable<{ nodeid: number; attr: FuseAttr }>;
  /** (directory, name) pairs the server must always answer. */
  reserved(): Iterable<{ parent: number; name: string }>;
}

export function buildFastReplies(src: FastSource, t: FastTimeouts): FastReplies {
  const list = [...src.entries()];
  const entries = new Uint8Array(list.length * ENTRY_OUT_SIZE);
  const ev = new DataView(entries.buffer);
  const lookups = new Map<string, number>();
  list.forEach((e, i) => {
    writeEntryOut(ev, i * ENTRY_OUT_SIZE, e.nodeid, 0, t.entryValid, t.attrValid, e.attr);
    lookups.set(`${e.parent}/${e.name}`, i * ENTRY_OUT_SIZE);
  });
  const nodes = [...src.nodes()];
  const maxId = nodes.reduce((m, n) => Math.max(m, n.nodeid), 0);
  const attrAt = new Int32Array(maxId + 1).fill(-1);
  const attrs = new Uint8Array(nodes.length * ATTR_OUT_SIZE);
  const dirs = new Uint8Array(maxId + 1);
  const av = new DataView(attrs.buffer);
  nodes.forEach((n, i) => {
    writeAttrOut(av, i * ATTR_OUT_SIZE, t.attrValid, n.attr);
    attrAt[n.nodeid] = i * ATTR_OUT_SIZE;
    if ((n.attr.mode & S_IFMT) === S_IFDIR) dirs[n.nodeid] = 1;
  });
  const forward = new Set<string>();
  for (const r of src.reserved()) forward.add(`${r.parent}/${r.name}`);
  let negative: Uint8Array | null = null;
  if (t.negativeValid.sec !== 0 || t.negativeValid.nsec !== 0) {
    negative = new Uint8Array(ENTRY_OUT_SIZE);
    writeEntryOut(new DataView(negative.buffer), 0, 0, 0, t.negativeValid, { sec: 0, nsec: 0 }, null);
  }
  return { lookups, entries, attrAt, attrs, dirs, negative, forward };
}
