/**
 * A promise-style gRPC client of the Snapshots service for tests (ours and
 * the e2e ones): every RPC as a method, errors carry the gRPC `code`.
 */
import * as grpc from "@grpc/grpc-js";
import { NAMESPACE_HEADER, SERVICES } from "./proto.ts";

export type Call = (method: string, req: Record<string, unknown>) => Promise<any>;

export function snapshotsClient(socketPath: string, namespace = "default") {
  const Ctor = SERVICES.snapshots();
  const c = new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as Record<string, Function> & grpc.Client;
  const md = () => {
    const m = new grpc.Metadata();
    m.set(NAMESPACE_HEADER, namespace);
    return m;
  };
  const call: Call = (method, req) =>
    new Promise((resolve, reject) => c[method]!.call(c, { snapshotter: "soci", ...req }, md(), (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))));
  const list = (filters: string[] = []) =>
    new Promise<any[]>((resolve, reject) => {
      const out: any[] = [];
      const s = c.List!.call(c, { snapshotter: "soci", filters }, md()) as grpc.ClientReadableStream<{ info: any[] }>;
      s.on("data", (m) => out.push(...m.info));
      s.on("error", reject);
      s.on("end", () => resolve(out));
    });
  return { call, list, close: () => c.close() };
}
