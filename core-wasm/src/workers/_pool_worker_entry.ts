/**
 * Entry of the small script the zTOC pool workers run in a bundled program
 * (scripts/bundle.mjs bundles this file on its own and embeds the text as
 * `__SOCI_ZTOC_WORKER_SOURCE__`; mod.ts starts workers from it with
 * `eval: true`). A worker then loads only the zTOC builder, not the whole
 * CLI with its registry and snapshotter dependencies. Unbundled runs (tests)
 * start workers from the program file instead.
 */
import { runZtocWorkerIfWorker } from "./mod.ts";

runZtocWorkerIfWorker();
