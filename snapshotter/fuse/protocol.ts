/**
 * The numbers of the Linux FUSE wire protocol (fuse.md §4–§7, kernel UAPI
 * `include/uapi/linux/fuse.h`): opcodes, INIT capability bits, open flags,
 * errno values and the protocol version we speak, plus `FuseError`, the one
 * way a filesystem handler chooses the errno of its reply.
 *
 * Names keep the kernel spelling (STYLE §4) so a grep leads from the header to
 * here. This module holds constants only; layouts live in `structs.ts`, the
 * dispatch in `server.ts`. It does not cover opcodes a read-only layer never
 * answers beyond EROFS/ENOSYS (CUSE, notify messages, DAX mappings).
 */
import { SociError } from "../../core-wasm/src/errors.ts";

/** Protocol we implement: 7.38 (fuse.md §5; newer kernels fall back to it). */
export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 38;
/** init_out was 24 bytes before 7.23 (FUSE_COMPAT_22_INIT_OUT_SIZE). */
export const FUSE_COMPAT_22_INIT_OUT_SIZE = 24;
export const FUSE_ROOT_ID = 1;

// ---- opcodes (fuse.md §7) --------------------------------------------------
export const FUSE_LOOKUP = 1;
export const FUSE_FORGET = 2;
export const FUSE_GETATTR = 3;
export const FUSE_SETATTR = 4;
export const FUSE_READLINK = 5;
export const FUSE_SYMLINK = 6;
export const FUSE_MKNOD = 8;
export const FUSE_MKDIR = 9;
export const FUSE_UNLINK = 10;
export const FUSE_RMDIR = 11;
export const FUSE_RENAME = 12;
export const FUSE_LINK = 13;
export const FUSE_OPEN = 14;
export const FUSE_READ = 15;
export const FUSE_WRITE = 16;
export const FUSE_STATFS = 17;
export const FUSE_RELEASE = 18;
export const FUSE_FSYNC = 20;
export const FUSE_SETXATTR = 21;
export const FUSE_GETXATTR = 22;
export const FUSE_LISTXATTR = 23;
export const FUSE_REMOVEXATTR = 24;
export const FUSE_FLUSH = 25;
export const FUSE_INIT = 26;
export const FUSE_OPENDIR = 27;
export const FUSE_READDIR = 28;
export const FUSE_RELEASEDIR = 29;
export const FUSE_FSYNCDIR = 30;
export const FUSE_GETLK = 31;
export const FUSE_SETLK = 32;
export const FUSE_SETLKW = 33;
export const FUSE_ACCESS = 34;
export const FUSE_CREATE = 35;
export const FUSE_INTERRUPT = 36;
export const FUSE_BMAP = 37;
export const FUSE_DESTROY = 38;
export const FUSE_IOCTL = 39;
export const FUSE_POLL = 40;
export const FUSE_NOTIFY_REPLY = 41;
export const FUSE_BATCH_FORGET = 42;
export const FUSE_FALLOCATE = 43;
export const FUSE_READDIRPLUS = 44;
export const FUSE_RENAME2 = 45;
export const FUSE_LSEEK = 46;
export const FUSE_COPY_FILE_RANGE = 47;
export const FUSE_SETUPMAPPING = 48;
export const FUSE_REMOVEMAPPING = 49;
export const FUSE_SYNCFS = 50;
export const FUSE_TMPFILE = 51;
export const FUSE_STATX = 52;

// ---- INIT capability bits, `flags` word (fuse.md §5.1; value = 1 << bit) ----
export const FUSE_ASYNC_READ = 1 << 0;
export const FUSE_POSIX_LOCKS = 1 << 1;
export const FUSE_ATOMIC_O_TRUNC = 1 << 3;
export const FUSE_EXPORT_SUPPORT = 1 << 4;
export const FUSE_BIG_WRITES = 1 << 5;
export const FUSE_DONT_MASK = 1 << 6;
export const FUSE_FLOCK_LOCKS = 1 << 10;
export const FUSE_AUTO_INVAL_DATA = 1 << 12;
export const FUSE_DO_READDIRPLUS = 1 << 13;
export const FUSE_READDIRPLUS_AUTO = 1 << 14;
export const FUSE_ASYNC_DIO = 1 << 15;
export const FUSE_WRITEBACK_CACHE = 1 << 16;
export const FUSE_NO_OPEN_SUPPORT = 1 << 17;
export const FUSE_PARALLEL_DIROPS = 1 << 18;
export const FUSE_POSIX_ACL = 1 << 20;
export const FUSE_ABORT_ERROR = 1 << 21;
export const FUSE_MAX_PAGES = 1 << 22;
export const FUSE_CACHE_SYMLINKS = 1 << 23;
export const FUSE_NO_OPENDIR_SUPPORT = 1 << 24;
export const FUSE_EXPLICIT_INVAL_DATA = 1 << 25;
/** Bit 30; `1 << 30` stays a positive int32, bit 31 would not. */
export const FUSE_INIT_EXT = 1 << 30;

// ---- fuse_open_out.open_flags ---------------------------------------------
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_NONSEEKABLE = 1 << 2;
export const FOPEN_CACHE_DIR = 1 << 3;
export const FOPEN_STREAM = 1 << 4;
export const FOPEN_NOFLUSH = 1 << 5;

/** fuse_getattr_in.getattr_flags: `fh` is valid. */
export const FUSE_GETATTR_FH = 1 << 0;
/** Set in the `unique` of an INTERRUPT request (kernel FUSE_INT_REQ_BIT). */
export const FUSE_INT_REQ_BIT = 1n;

// ---- errno values (Linux, all architectures we run on) ----------------------
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const EBADF = 9;
export const EAGAIN = 11;
export const EACCES = 13;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ERANGE = 34;
export const EROFS = 30;
export const ENOSYS = 38;
export const ENAMETOOLONG = 36;
export const ENODATA = 61;
export const EPROTO = 71;
export const EOPNOTSUPP = 95;
export const ENOTCONN = 107;

/** open(2) access mode bits (O_ACCMODE) and O_RDONLY. */
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0;

/** File type bits of `mode` (S_IFMT) and the types a layer holds. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Opcode number → kernel name without the `FUSE_` prefix, for log lines. */
export const OPCODE_NAMES: Readonly<Record<number, string>> = {
  1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 5: "READLINK", 6: "SYMLINK",
  8: "MKNOD", 9: "MKDIR", 10: "UNLINK", 11: "RMDIR", 12: "RENAME", 13: "LINK", 14: "OPEN",
  15: "READ", 16: "WRITE", 17: "STATFS", 18: "RELEASE", 20: "FSYNC", 21: "SETXATTR",
  22: "GETXATTR", 23: "LISTXATTR", 24: "REMOVEXATTR", 25: "FLUSH", 26: "INIT", 27: "OPENDIR",
  28: "READDIR", 29: "RELEASEDIR", 30: "FSYNCDIR", 31: "GETLK", 32: "SETLK", 33: "SETLKW",
  34: "ACCESS", 35: "CREATE", 36: "INTERRUPT", 37: "BMAP", 38: "DESTROY", 39: "IOCTL",
  40: "POLL", 41: "NOTIFY_REPLY", 42: "BATCH_FORGET", 43: "FALLOCATE", 44: "READDIRPLUS",
  45: "RENAME2", 46: "LSEEK", 47: "COPY_FILE_RANGE", 48: "SETUPMAPPING", 49: "REMOVEMAPPING",
  50: "SYNCFS", 51: "TMPFILE", 52: "STATX",
};

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `OPCODE_${opcode}`;
}

/**
 * Thrown by a filesystem handler to answer its request with `errno`
 * (a positive Linux errno, e.g. `ENOENT`). Expected outcomes such as ENOENT or
 * ENODATA are not logged; any other exception becomes EIO plus one log line.
 */
export class FuseError extends SociError {
  readonly errno: number;
  constructor(errno: number, message = `Cannot complete FUSE request: errno ${errno}`) {
    super(message);
    if (!Number.isInteger(errno) || errno <= 0 || errno >= 1000) throw new RangeError(`errno ${errno} is not in 1..999`);
    this.errno = errno;
  }
}
