/**
 * Codecs for the packed little-endian FUSE structs (fuse.md §4–§6, kernel UAPI
 * `fuse.h`), each layout drawn field by field beside its code (STYLE §5).
 *
 * Decoders take a `ByteReader` over the request (STYLE §9.12): reading past
 * the end throws `RangeError`, which the server turns into an EINVAL reply —
 * a hostile or truncated message costs one request, never the loop. Encoders
 * write into a caller-owned `DataView` at an offset so READDIRPLUS can pack
 * many records into one reply buffer without per-record allocations.
 *
 * u64 fields are carried as JS numbers (all sizes/ids stay below 2^53, fuse.md
 * intro) except `unique`, which is echoed verbatim as a bigint. Does not cover
 * structs of write opcodes (those are answered EROFS unread).
 */
import { ByteReader } from "../../core-wasm/src/bytes/mod.ts";
import { FOPEN_CACHE_DIR, FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE } from "./protocol.ts";

export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 128;
export const ATTR_OUT_SIZE = 104;
export const OPEN_OUT_SIZE = 16;
export const KSTATFS_SIZE = 80;
export const INIT_OUT_SIZE = 64;
export const GETXATTR_OUT_SIZE = 8;
export const DIRENT_HEADER_SIZE = 24;

const TWO_32 = 0x1_0000_0000;

/** Unsigned 64-bit read as a number; RangeError beyond 2^53. */
export function readU64(r: ByteReader): number {
  const p = r.pos;
  r.take(8);
  const lo = r.view.getUint32(p, true);
  const hi = r.view.getUint32(p + 4, true);
  if (hi > 0x1f_ffff) throw new RangeError(`u64 at offset ${p} is beyond 2^53`);
  return hi * TWO_32 + lo;
}

/** Writes a non-negative integer below 2^53 as u64 without a BigInt. */
export function writeU64(v: DataView, off: number, n: number): void {
  v.setUint32(off, n >>> 0, true);
  v.setUint32(off + 4, Math.floor(n / TWO_32), true);
}

// ---- fuse_in_header (40 bytes) -----------------------------------------------
//   0 u32 len | 4 u32 opcode | 8 u64 unique | 16 u64 nodeid
//  24 u32 uid | 28 u32 gid | 32 u32 pid | 36 u16 total_extlen | 38 u16 padding
export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  totalExtlen: number;
}

export function decodeInHeader(r: ByteReader): InHeader {
  const len = r.u32();
  const opcode = r.u32();
  const p = r.pos;
  r.take(8);
  const unique = r.view.getBigUint64(p, true);
  const nodeid = readU64(r);
  const uid = r.u32();
  const gid = r.u32();
  const pid = r.u32();
  const totalExtlen = r.u16();
  r.u16(); // padding
  return { len, opcode, unique, nodeid, uid, gid, pid, totalExtlen };
}

// ---- fuse_out_header (16 bytes) ----------------------------------------------
//   0 u32 len | 4 i32 error (0 or -errno) | 8 u64 unique
export function writeOutHeader(v: DataView, len: number, error: number, unique: bigint): void {
  v.setUint32(0, len, true);
  v.setInt32(4, error, true);
  v.setBigUint64(8, unique, true);
}

// ---- fuse_init_in (16 bytes before 7.36, 64 since) ---------------------------
//   0 u32 major | 4 u32 minor | 8 u32 max_readahead | 12 u32 flags
//  16 u32 flags2 (valid with FUSE_INIT_EXT) | 20 u32 unused[11]
export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  flags2: number;
}

export function decodeInitIn(r: ByteReader): InitIn {
  const major = r.u32();
  const minor = r.u32();
  const maxReadahead = r.u32();
  const flags = r.u32();
  const flags2 = r.remaining >= 4 ? r.u32() : 0;
  return { major, minor, maxReadahead, flags, flags2 };
}

// ---- fuse_init_out (64 bytes; 24 before 7.23) --------------------------------
//   0 u32 major | 4 u32 minor | 8 u32 max_readahead | 12 u32 flags
//  16 u16 max_background | 18 u16 congestion_threshold | 20 u32 max_write
//  24 u32 time_gran | 28 u16 max_pages | 30 u16 map_alignment | 32 u32 flags2
//  36 u32 unused[7]
export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  flags2: number;
}

export function writeInitOut(v: DataView, off: number, o: InitOut, size: number): void {
  v.setUint32(off + 0, o.major, true);
  v.setUint32(off + 4, o.minor, true);
  v.setUint32(off + 8, o.maxReadahead, true);
  v.setUint32(off + 12, o.flags >>> 0, true);
  v.setUint16(off + 16, o.maxBackground, true);
  v.setUint16(off + 18, o.congestionThreshold, true);
  v.setUint32(off + 20, o.maxWrite, true);
  if (size < INIT_OUT_SIZE) return; // 7.22-and-older layout ends here
  v.setUint32(off + 24, o.timeGran, true);
  v.setUint16(off + 28, o.maxPages, true);
  v.setUint16(off + 30, 0, true); // map_alignment (DAX only)
  v.setUint32(off + 32, o.flags2 >>> 0, true);
}

// ---- fuse_attr (88 bytes) ----------------------------------------------------
//   0 u64 ino | 8 u64 size | 16 u64 blocks (512 B) | 24 u64 atime | 32 u64 mtime
//  40 u64 ctime | 48 u32 atimensec | 52 u32 mtimensec | 56 u32 ctimensec
//  60 u32 mode | 64 u32 nlink | 68 u32 uid | 72 u32 gid | 76 u32 rdev
//  80 u32 blksize | 84 u32 flags
export interface FuseAttr {
  ino: number;
  size: number;
  /** 512-byte units; default ceil(size / 4096) · 8 (snapshotter §8.2). */
  blocks?: number;
  atimeSec?: number;
  atimeNsec?: number;
  mtimeSec?: number;
  mtimeNsec?: number;
  ctimeSec?: number;
  ctimeNsec?: number;
  /** S_IFMT type bits | permissions | setuid/setgid/sticky. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** Linux new encoding, see `makeRdev`. */
  rdev?: number;
  /** Preferred I/O size; default 4096. */
  blksize?: number;
}

/** makedev() in the encoding fuse_attr.rdev expects (fuse.md §6). */
export function makeRdev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

export function writeAttr(v: DataView, off: number, a: FuseAttr): void {
  writeU64(v, off + 0, a.ino);
  writeU64(v, off + 8, a.size);
  writeU64(v, off + 16, a.blocks ?? Math.ceil(a.size / 4096) * 8);
  writeU64(v, off + 24, a.atimeSec ?? 0);
  writeU64(v, off + 32, a.mtimeSec ?? 0);
  writeU64(v, off + 40, a.ctimeSec ?? 0);
  v.setUint32(off + 48, a.atimeNsec ?? 0, true);
  v.setUint32(off + 52, a.mtimeNsec ?? 0, true);
  v.setUint32(off + 56, a.ctimeNsec ?? 0, true);
  v.setUint32(off + 60, a.mode, true);
  v.setUint32(off + 64, a.nlink, true);
  v.setUint32(off + 68, a.uid, true);
  v.setUint32(off + 72, a.gid, true);
  v.setUint32(off + 76, a.rdev ?? 0, true);
  v.setUint32(off + 80, a.blksize ?? 4096, true);
  v.setUint32(off + 84, 0, true); // flags: no SUBMOUNT, no DAX
}

/** Decodes a fuse_attr (used by tests to check replies field by field). */
export function decodeAttr(r: ByteReader): Required<FuseAttr> {
  const ino = readU64(r), size = readU64(r), blocks = readU64(r);
  const atimeSec = readU64(r), mtimeSec = readU64(r), ctimeSec = readU64(r);
  const atimeNsec = r.u32(), mtimeNsec = r.u32(), ctimeNsec = r.u32();
  const mode = r.u32(), nlink = r.u32(), uid = r.u32(), gid = r.u32(), rdev = r.u32(), blksize = r.u32();
  r.u32(); // flags
  return { ino, size, blocks, atimeSec, atimeNsec, mtimeSec, mtimeNsec, ctimeSec, ctimeNsec, mode, nlink, uid, gid, rdev, blksize };
}

/** A cache lifetime split the way the kernel wants it. */
export interface Validity {
  sec: number;
  nsec: number;
}

export function validityOf(seconds: number): Validity {
  const sec = Math.floor(seconds);
  return { sec, nsec: Math.round((seconds - sec) * 1e9) };
}

// ---- fuse_entry_out (128 bytes) ----------------------------------------------
//   0 u64 nodeid | 8 u64 generation | 16 u64 entry_valid | 24 u64 attr_valid
//  32 u32 entry_valid_nsec | 36 u32 attr_valid_nsec | 40 fuse_attr attr
export function writeEntryOut(v: DataView, off: number, nodeid: number, generation: number, entryValid: Validity, attrValid: Validity, attr: FuseAttr | null): void {
  writeU64(v, off + 0, nodeid);
  writeU64(v, off + 8, generation);
  writeU64(v, off + 16, entryValid.sec);
  writeU64(v, off + 24, attrValid.sec);
  v.setUint32(off + 32, entryValid.nsec, true);
  v.setUint32(off + 36, attrValid.nsec, true);
  if (attr !== null) writeAttr(v, off + 40, attr);
}

// ---- fuse_attr_out (104 bytes) -----------------------------------------------
//   0 u64 attr_valid | 8 u32 attr_valid_nsec | 12 u32 dummy | 16 fuse_attr attr
export function writeAttrOut(v: DataView, off: number, attrValid: Validity, attr: FuseAttr): void {
  writeU64(v, off + 0, attrValid.sec);
  v.setUint32(off + 8, attrValid.nsec, true);
  v.setUint32(off + 12, 0, true);
  writeAttr(v, off + 16, attr);
}

/** fuse_open_out flags for an OPEN result. */
export function openFlagsOf(r: { keepCache?: boolean; directIo?: boolean }): number {
  return (r.keepCache ? FOPEN_KEEP_CACHE : 0) | (r.directIo ? FOPEN_DIRECT_IO : 0);
}

/** fuse_open_out flags for an OPENDIR result. */
export function opendirFlagsOf(r: { cacheDir?: boolean }): number {
  return r.cacheDir ? FOPEN_CACHE_DIR : 0;
}

// ---- fuse_open_out (16 bytes) ------------------------------------------------
//   0 u64 fh | 8 u32 open_flags (FOPEN_*) | 12 u32 padding (backing id; 0)
export function writeOpenOut(v: DataView, off: number, fh: number, openFlags: number): void {
  writeU64(v, off + 0, fh);
  v.setUint32(off + 8, openFlags, true);
  v.setUint32(off + 12, 0, true);
}

// ---- fuse_kstatfs (80 bytes) -------------------------------------------------
//   0 u64 blocks | 8 u64 bfree | 16 u64 bavail | 24 u64 files | 32 u64 ffree
//  40 u32 bsize | 44 u32 namelen | 48 u32 frsize | 52 u32 padding | 56 u32 spare[6]
export interface FuseStatfs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

export function writeKstatfs(v: DataView, off: number, s: FuseStatfs): void {
  writeU64(v, off + 0, s.blocks);
  writeU64(v, off + 8, s.bfree);
  writeU64(v, off + 16, s.bavail);
  writeU64(v, off + 24, s.files);
  writeU64(v, off + 32, s.ffree);
  v.setUint32(off + 40, s.bsize, true);
  v.setUint32(off + 44, s.namelen, true);
  v.setUint32(off + 48, s.frsize, true);
}

// ---- fuse_dirent (24 + namelen, padded to 8) ---------------------------------
//   0 u64 ino | 8 u64 off (cookie of the NEXT entry) | 16 u32 namelen
//  20 u32 type (DT_* = (mode & S_IFMT) >> 12) | 24 name bytes, no NUL, zero pad
export function direntSize(nameLen: number): number {
  return (DIRENT_HEADER_SIZE + nameLen + 7) & ~7;
}

/** fuse_direntplus = fuse_entry_out (128) + fuse_dirent. */
export function direntplusSize(nameLen: number): number {
  return ENTRY_OUT_SIZE + direntSize(nameLen);
}

/** Writes one dirent; the buffer must be zeroed (padding bytes stay 0). */
export function writeDirent(bytes: Uint8Array, v: DataView, off: number, ino: number, nextOff: number, mode: number, name: Uint8Array): void {
  writeU64(v, off + 0, ino);
  writeU64(v, off + 8, nextOff);
  v.setUint32(off + 16, name.length, true);
  v.setUint32(off + 20, (mode & 0o170000) >>> 12, true);
  bytes.set(name, off + DIRENT_HEADER_SIZE);
}

// ---- request bodies ----------------------------------------------------------

/** A NUL-terminated name (LOOKUP, GETXATTR): the bytes before the NUL, no copy. */
export function decodeName(r: ByteReader): Uint8Array {
  const rest = r.bytes.subarray(r.pos);
  const nul = rest.indexOf(0);
  if (nul < 0) throw new RangeError(`name at offset ${r.pos} has no NUL terminator`);
  r.take(nul + 1);
  return rest.subarray(0, nul);
}

// fuse_getattr_in (16): 0 u32 getattr_flags | 4 u32 dummy | 8 u64 fh
export interface GetattrIn { getattrFlags: number; fh: number }
export function decodeGetattrIn(r: ByteReader): GetattrIn {
  const getattrFlags = r.u32();
  r.u32();
  return { getattrFlags, fh: readU64(r) };
}

// fuse_open_in (8): 0 u32 flags (open(2) flags) | 4 u32 open_flags
export interface OpenIn { flags: number; openFlags: number }
export function decodeOpenIn(r: ByteReader): OpenIn {
  return { flags: r.u32(), openFlags: r.u32() };
}

// fuse_read_in (40): 0 u64 fh | 8 u64 offset | 16 u32 size | 20 u32 read_flags
//                   24 u64 lock_owner | 32 u32 flags | 36 u32 padding
export interface ReadIn { fh: number; offset: number; size: number; flags: number }
export function decodeReadIn(r: ByteReader): ReadIn {
  const fh = readU64(r);
  const offset = readU64(r);
  const size = r.u32();
  r.u32(); // read_flags
  r.take(8); // lock_owner: an opaque kernel hash, may exceed 2^53
  const flags = r.u32();
  r.u32();
  return { fh, offset, size, flags };
}

// fuse_release_in (24): 0 u64 fh | 8 u32 flags | 12 u32 release_flags | 16 u64 lock_owner
export interface ReleaseIn { fh: number; flags: number }
export function decodeReleaseIn(r: ByteReader): ReleaseIn {
  const fh = readU64(r);
  const flags = r.u32();
  r.u32();
  r.take(8);
  return { fh, flags };
}

// fuse_getxattr_in (8): 0 u32 size | 4 u32 padding; GETXATTR: NUL-terminated name follows
export function decodeGetxattrIn(r: ByteReader): { size: number } {
  const size = r.u32();
  r.u32();
  return { size };
}

// fuse_access_in (8): 0 u32 mask | 4 u32 padding
export function decodeAccessIn(r: ByteReader): { mask: number } {
  const mask = r.u32();
  r.u32();
  return { mask };
}

// fuse_forget_in (8): 0 u64 nlookup
export function decodeForgetIn(r: ByteReader): { nlookup: number } {
  return { nlookup: readU64(r) };
}

// fuse_batch_forget_in (8): 0 u32 count | 4 u32 dummy; then count × fuse_forget_one
// fuse_forget_one (16): 0 u64 nodeid | 8 u64 nlookup
export interface ForgetOne { nodeid: number; nlookup: number }
export function decodeBatchForgetIn(r: ByteReader): ForgetOne[] {
  const count = r.u32();
  r.u32();
  if (count * 16 > r.remaining) throw new RangeError(`BATCH_FORGET count ${count} overruns the ${r.remaining}-byte body`);
  const out: ForgetOne[] = [];
  for (let i = 0; i < count; i++) out.push({ nodeid: readU64(r), nlookup: readU64(r) });
  return out;
}

// fuse_interrupt_in (8): 0 u64 unique of the interrupted request
export function decodeInterruptIn(r: ByteReader): { unique: bigint } {
  const p = r.pos;
  r.take(8);
  return { unique: r.view.getBigUint64(p, true) };
}
