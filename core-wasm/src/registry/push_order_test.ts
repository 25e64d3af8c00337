import { test } from "node:test";
import assert from "node:assert/strict";
import { MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST } from "../oci/mod.ts";
import { manifestReferences, pushOrder } from "./push_order.ts";

const d = (c: string, mediaType = "application/octet-stream") => ({ mediaType, digest: "sha256:" + c.repeat(64), size: 1 });

test("pushOrder() puts blobs first, then manifests, then indexes, children before parents", () => {
  const layer = { descriptor: d("1") };
  const config = { descriptor: d("2") };
  const m = { descriptor: d("3", MEDIA_TYPE_OCI_MANIFEST), references: [d("2").digest, d("1").digest] };
  const inner = { descriptor: d("4", MEDIA_TYPE_OCI_INDEX), references: [d("3").digest] };
  const outer = { descriptor: d("5", MEDIA_TYPE_OCI_INDEX), references: [d("4").digest, d("9").digest] }; // 9: not in the set
  const out = pushOrder([outer, inner, m, layer, config]);
  assert.deepEqual(out.map((x) => x.descriptor.digest[7]), ["1", "2", "3", "4", "5"]);
});

test("pushOrder() keeps input order among equals, drops duplicates and rejects cycles", () => {
  const a = { descriptor: d("a") };
  const b = { descriptor: d("b") };
  assert.deepEqual(pushOrder([b, a, b]), [b, a]);
  const x = { descriptor: d("c", MEDIA_TYPE_OCI_MANIFEST), references: [d("e").digest] };
  const y = { descriptor: d("e", MEDIA_TYPE_OCI_MANIFEST), references: [d("c").digest] };
  assert.throws(() => pushOrder([x, y]), /cycle/);
});

test("manifestReferences() lists config, layers and child manifests but not the subject", () => {
  const m = new TextEncoder().encode(JSON.stringify({ config: d("1"), layers: [d("2"), d("3")], subject: d("4") }));
  assert.deepEqual(manifestReferences(m), [d("1").digest, d("2").digest, d("3").digest]);
  const i = new TextEncoder().encode(JSON.stringify({ manifests: [d("5")] }));
  assert.deepEqual(manifestReferences(i), [d("5").digest]);
  assert.throws(() => manifestReferences(new TextEncoder().encode("{")), /not JSON/);
});
