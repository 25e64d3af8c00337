/**
 * What the core needs to know about the JavaScript engine it runs on (Bun,
 * Node or Deno), beyond the APIs all three share. Imports nothing.
 */
export { jitHintsActive, keepMethodsOutOfFtl, keepOutOfFtl } from "./jit_hints.ts";
