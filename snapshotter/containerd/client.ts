/**
 * A small client of containerd's gRPC API (containerd 1.6 `api/services`),
 * enough for `soci image rpull` (snapshotter §3.2): leases, content (Info,
 * streaming Write, label Update), images (Get/Create/Update), snapshots
 * through containerd's metadata layer (Stat/Prepare/Commit/Remove/Mounts) and
 * diff Apply. Every call carries the namespace (`containerd-namespace`) and,
 * once `useLease` was called, the lease (`containerd-lease`) so GC keeps
 * what we write. gRPC errors become typed errors (grpc/errors.ts).
 *
 * Not here: the pull itself (rpull.ts).
 */
import * as grpc from "@grpc/grpc-js";
import { fromServiceError, LEASE_HEADER, NAMESPACE_HEADER, SERVICES, socketPathOf, type PbInfo, type PbMount } from "../grpc/mod.ts";

export interface PbDescriptor {
  media_type: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
type AnyClient = grpc.Client & Record<string, (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<unknown>) => grpc.ClientUnaryCall>;

/** Bytes per Write message (containerd's own client uses 1 MiB). */
const WRITE_CHUNK = 1 << 20;

export class ContainerdClient {
  private readonly clients: Record<"snapshots" | "content" | "images" | "leases" | "diff", AnyClient>;
  private lease?: string;

  constructor(
    readonly address: string,
    readonly namespace: string,
  ) {
    const target = `unix://${socketPathOf(address)}`;
    const creds = grpc.credentials.createInsecure();
    const opts = { "grpc.max_receive_message_length": 16 << 20, "grpc.max_send_message_length": 16 << 20 };
    const make = (c: () => grpc.ServiceClientConstructor) => new (c())(target, creds, opts) as unknown as AnyClient;
    this.clients = { snapshots: make(SERVICES.snapshots), content: make(SERVICES.content), images: make(SERVICES.images), leases: make(SERVICES.leases), diff: make(SERVICES.diff) };
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(NAMESPACE_HEADER, this.namespace);
    if (this.lease) md.set(LEASE_HEADER, this.lease);
    return md;
  }

  private call<T>(svc: keyof ContainerdClient["clients"], method: string, req: unknown, action: string, timeoutMs = 600_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.clients[svc][method]!.call(this.clients[svc], req, this.metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(fromServiceError(err, action)) : resolve(res as T),
      );
    });
  }

  close(): void {
    for (const c of Object.values(this.clients)) c.close();
  }

  // --- leases ---
  async createLease(id: string, expireMs: number): Promise<void> {
    const expire = new Date(Date.now() + expireMs).toISOString().replace(/\.\d+Z$/, "Z");
    await this.call("leases", "Create", { id, labels: { "containerd.io/gc.expire": expire } }, `create lease ${JSON.stringify(id)}`);
    this.lease = id;
  }
  async deleteLease(): Promise<void> {
    if (!this.lease) return;
    const id = this.lease;
    this.lease = undefined;
    await this.call("leases", "Delete", { id, sync: false }, `delete lease ${JSON.stringify(id)}`);
  }

  // --- content ---
  async contentInfo(digest: string): Promise<{ digest: string; size: number; labels: Record<string, string> } | undefined> {
    try {
      const r = await this.call<{ info: { digest: string; size: number; labels: Record<string, string> } }>("content", "Info", { digest }, `stat content ${digest}`);
      return r.info;
    } catch (e) {
      if ((e as { code?: string }).code === "not_found") return undefined;
      throw e;
    }
  }

  async updateContentLabels(digest: string, labels: Record<string, string>): Promise<void> {
    await this.call("content", "Update", { info: { digest, labels }, update_mask: { paths: Object.keys(labels).map((k) => `labels.${k}`) } }, `label content ${digest}`);
  }

  /**
   * Streams `data` into the content store as `digest` (containerd verifies
   * size and digest at commit). Already present → labels updated, nothing
   * written. Returns the bytes sent.
   */
  async writeContent(ref: string, digest: string, size: number, data: Uint8Array | AsyncIterable<Uint8Array>, labels: Record<string, string> = {}): Promise<number> {
    if (await this.contentInfo(digest)) {
      if (Object.keys(labels).length > 0) await this.updateContentLabels(digest, labels);
      return 0;
    }
    const stream = (this.clients.content as unknown as Record<string, (md: grpc.Metadata) => grpc.ClientDuplexStream<unknown, { action: string; offset: number; digest: string }>>).Write!.call(this.clients.content, this.metadata());
    let sent = 0;
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (res) => {
        if (res.action === "COMMIT") resolve();
      });
      stream.on("error", (e) => reject(e));
      stream.on("end", () => resolve());
    });
    const write = (m: unknown) => new Promise<void>((res) => (stream.write(m) ? res() : stream.once("drain", () => res())));
    try {
      const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = data instanceof Uint8Array ? [data] : data;
      for await (const c of chunks) {
        for (let o = 0; o < c.length; o += WRITE_CHUNK) {
          const part = c.subarray(o, Math.min(c.length, o + WRITE_CHUNK));
          await write({ action: "WRITE", ref, total: size, expected: digest, offset: sent, data: Buffer.from(part.buffer, part.byteOffset, part.length) });
          sent += part.length;
        }
      }
      await write({ action: "COMMIT", ref, total: size, expected: digest, offset: sent, labels });
      stream.end();
      await done;
    } catch (e) {
      stream.cancel();
      const err = fromServiceError(e, `write content ${digest}`);
      if ((err as { code?: string }).code === "already_exists") return sent;
      throw err;
    }
    return sent;
  }

  // --- images ---
  async getImage(name: string): Promise<{ name: string; target: PbDescriptor; labels: Record<string, string> } | undefined> {
    try {
      return (await this.call<{ image: { name: string; target: PbDescriptor; labels: Record<string, string> } }>("images", "Get", { name }, `get image ${JSON.stringify(name)}`)).image;
    } catch (e) {
      if ((e as { code?: string }).code === "not_found") return undefined;
      throw e;
    }
  }

  /** Creates the image record, or points an existing one at `target`. */
  async putImage(name: string, target: PbDescriptor, labels: Record<string, string> = {}): Promise<void> {
    const image = { name, target, labels };
    if (await this.getImage(name)) await this.call("images", "Update", { image, update_mask: { paths: ["target", "labels"] } }, `update image ${JSON.stringify(name)}`);
    else await this.call("images", "Create", { image }, `create image ${JSON.stringify(name)}`);
  }

  // --- snapshots (through containerd's metadata layer) ---
  async statSnapshot(snapshotter: string, key: string): Promise<PbInfo | undefined> {
    try {
      return (await this.call<{ info: PbInfo }>("snapshots", "Stat", { snapshotter, key }, `stat snapshot ${JSON.stringify(key)}`)).info;
    } catch (e) {
      if ((e as { code?: string }).code === "not_found") return undefined;
      throw e;
    }
  }
  async prepareSnapshot(snapshotter: string, key: string, parent: string, labels: Record<string, string>): Promise<PbMount[]> {
    return (await this.call<{ mounts: PbMount[] }>("snapshots", "Prepare", { snapshotter, key, parent, labels }, `prepare snapshot ${JSON.stringify(key)}`)).mounts;
  }
  async commitSnapshot(snapshotter: string, name: string, key: string, labels: Record<string, string> = {}): Promise<void> {
    await this.call("snapshots", "Commit", { snapshotter, name, key, labels }, `commit snapshot ${JSON.stringify(key)} as ${JSON.stringify(name)}`);
  }
  async removeSnapshot(snapshotter: string, key: string): Promise<void> {
    await this.call("snapshots", "Remove", { snapshotter, key }, `remove snapshot ${JSON.stringify(key)}`);
  }

  // --- diff ---
  async apply(diff: PbDescriptor, mounts: PbMount[]): Promise<PbDescriptor> {
    return (await this.call<{ applied: PbDescriptor }>("diff", "Apply", { diff, mounts }, `apply layer ${diff.digest}`)).applied;
  }
}
