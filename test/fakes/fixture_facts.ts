// What the fixture images are (scripts/make_fixtures.sh writes
// .build/fixtures/images/fixtures.json): the repository root, the images
// directory, the fixtures.json types and a reader, plus sha256 of bytes.
// Shared by test/interop/_fixture_util.ts and test/e2e/_soci_cli.ts (one
// definition instead of two). Builds nothing.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

export const ROOT = process.env.SOCI_REPO_ROOT ?? process.cwd();
export const IMAGES_DIR = join(ROOT, ".build", "fixtures", "images");

export interface LayerFacts {
  media_type: string;
  digest: string;
  size: number;
  compression?: string | null;
  diff_id?: string;
  uncompressed_size?: number;
  entries?: number;
  archive_size?: number;
  note?: string;
}
export interface ManifestFacts {
  media_type: string;
  digest: string;
  platform?: { architecture: string; os: string; variant?: string };
  layers: LayerFacts[];
}
export interface ImageFacts {
  layout: string;
  /** Digest of the image's root (index or manifest). */
  digest: string;
  manifests: ManifestFacts[];
}
export interface Fixtures {
  images: Record<string, ImageFacts>;
}

/** fixtures.json of the images built so far. */
export function readFixtures(): Fixtures {
  return JSON.parse(readFileSync(join(IMAGES_DIR, "fixtures.json"), "utf8")) as Fixtures;
}

export const sha256 = (b: Uint8Array): string => "sha256:" + createHash("sha256").update(b).digest("hex");
