/**
 * store/: the CLI's local content store (an OCI layout) and its artifact
 * records (formats §11), crash-safe by temp + rename.
 *
 * Not here: building artifacts (soci/), the snapshotter's own store.
 */
export { CONTENT_DIR, defaultStoreRoot, LocalStore, RECORDS_FILE, type IndexFilter } from "./local_store.ts";
export { decodeRecords, encodeRecords, RECORDS_VERSION, type IndexRecord, type LayerZtoc, type PrefetchRecord, type Records, type ZtocRecord } from "./artifact_records.ts";
