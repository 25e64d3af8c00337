/**
 * The Snapshots gRPC server (snapshotter §2, §2.2): grpc-js over a unix
 * socket, one handler per RPC that translates the request (convert.ts), calls
 * the snapshot service and translates the result or the error (errors.ts).
 * The containerd namespace comes from the `containerd-namespace` metadata;
 * the `snapshotter` field is ignored (one snapshotter per server). `List`
 * streams batches of at most 100 Info.
 *
 * Address forms: a path or `unix://path`; the socket's directory is created
 * and a stale socket file removed before binding.
 *
 * Not here: what the calls do (snapshots/), process lifetime (daemon/).
 */
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { SociError } from "../../core-wasm/src/errors.ts";
import type { Snapshotter } from "../snapshots/mod.ts";
import { batches, infoFromPb, infoToPb, mountToPb, type PbInfo } from "./convert.ts";
import { toServiceError } from "./errors.ts";
import { NAMESPACE_HEADER, SERVICES } from "./proto.ts";

export type Logger = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

/** The snapshot service as the server needs it (a Snapshotter, or a fake in tests). */
export type SnapshotService = Pick<Snapshotter, "prepare" | "view" | "mounts" | "commit" | "remove" | "stat" | "update" | "list" | "usage" | "cleanup">;

export function socketPathOf(address: string): string {
  if (address.startsWith("unix://")) return address.slice("unix://".length);
  if (address.includes("://")) throw new SociError(`Cannot listen on ${JSON.stringify(address)}: only unix sockets are supported`, { hint: "Pass a socket path or unix://PATH" });
  return address;
}

/**
 * The containerd namespace of a call: the `containerd-namespace` metadata, else
 * the `<namespace>/<sequence>/` prefix containerd's metadata layer puts on
 * every key (containerd 1.6's proxy was seen sending no header), else "default".
 */
function namespaceOf(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): string {
  const v = call.metadata.get(NAMESPACE_HEADER)[0];
  if (typeof v === "string" && v !== "") return v;
  const key = (call.request as { key?: unknown })?.key;
  const m = typeof key === "string" ? /^([^/]+)\/\d+\//.exec(key) : null;
  return m ? m[1]! : "default";
}

export interface RunningServer {
  socketPath: string;
  /** Stops accepting calls and waits for running ones (forced after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

export async function serveSnapshots(svc: SnapshotService, address: string, log: Logger = () => {}): Promise<RunningServer> {
  const socketPath = socketPathOf(address);
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o711 });
  rmSync(socketPath, { force: true });
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 << 20 });

  // One wrapper per unary RPC: translate → call → translate, one log line per failure.
  const unary = <Req, Res>(name: string, fn: (req: Req, ns: string) => Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      const ns = namespaceOf(call as grpc.ServerUnaryCall<unknown, unknown>);
      fn(call.request, ns).then(
        (res) => cb(null, res),
        (e) => {
          const se = toServiceError(e);
          log(se.code === grpc.status.UNKNOWN ? "error" : "debug", `${name} failed`, { namespace: ns, error: se.details, request: call.request });
          cb(se);
        },
      );
    };
  type KeyReq = { key: string };
  type PrepReq = { key: string; parent: string; labels: Record<string, string> };

  server.addService(SERVICES.snapshots().service, {
    Prepare: unary<PrepReq, unknown>("Prepare", async (r, ns) => ({ mounts: (await svc.prepare(r.key, r.parent, r.labels ?? {}, ns)).map(mountToPb) })),
    View: unary<PrepReq, unknown>("View", async (r) => ({ mounts: (await svc.view(r.key, r.parent, r.labels ?? {})).map(mountToPb) })),
    Mounts: unary<KeyReq, unknown>("Mounts", async (r) => ({ mounts: (await svc.mounts(r.key)).map(mountToPb) })),
    Commit: unary<{ name: string; key: string; labels: Record<string, string> }, unknown>("Commit", async (r) => {
      await svc.commit(r.name, r.key, r.labels ?? {});
      return {};
    }),
    Remove: unary<KeyReq, unknown>("Remove", async (r) => {
      await svc.remove(r.key);
      return {};
    }),
    Stat: unary<KeyReq, unknown>("Stat", async (r) => ({ info: infoToPb(await svc.stat(r.key)) })),
    Update: unary<{ info: PbInfo; update_mask: { paths: string[] } | null }, unknown>("Update", async (r) => ({
      info: infoToPb(await svc.update(infoFromPb(r.info), r.update_mask?.paths ?? [])),
    })),
    Usage: unary<KeyReq, unknown>("Usage", async (r) => {
      const u = await svc.usage(r.key);
      return { size: u.size, inodes: u.inodes };
    }),
    Cleanup: unary<unknown, unknown>("Cleanup", async () => {
      await svc.cleanup();
      return {};
    }),
    List: (call: grpc.ServerWritableStream<{ filters: string[] }, unknown>) => {
      svc.list(call.request.filters ?? []).then(
        (infos) => {
          for (const b of batches(infos)) call.write({ info: b.map(infoToPb) });
          call.end();
        },
        (e) => {
          log("debug", "List failed", { error: String(e) });
          call.emit("error", toServiceError(e));
        },
      );
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(new SociError(`Cannot listen on ${JSON.stringify(socketPath)}: ${err.message}`, { cause: err })) : resolve()));
  });
  return {
    socketPath,
    close: (graceMs = 2000) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }).finally(() => rmSync(socketPath, { force: true })),
  };
}
