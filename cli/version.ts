/**
 * The soci-ts version, taken from package.json at build time (esbuild inlines
 * the small JSON), so the single binary never reads files to know it.
 */
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;

/** The default build tool identifier written into zTOCs and SOCI indexes. */
export const BUILD_TOOL_IDENTIFIER = `soci-ts ${VERSION}`;
