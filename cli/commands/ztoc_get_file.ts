/**
 * `soci ztoc get-file DIGEST FILE [-o OUT]` (formats §11.2): extracts one file
 * (the exact raw TOC name; hardlinks followed) from the locally stored layer
 * blob, reading only the spans it covers. Without `-o` the content goes to
 * stdout followed by a newline (as upstream); with `-o` it is written to OUT
 * (temp file + rename; mode 0644 rather than upstream's 0). `--json` prints
 * `{file, size, output}` after writing, or the content base64-encoded.
 */
import { digestArg, stringFlag, type CommandSpec } from "../command.ts";
import { ztocGetFile } from "./_store.ts";

export const ztocGetFileCommand: CommandSpec = {
  name: "ztoc get-file",
  args: "<digest> <file>",
  description: "Extract a file from a layer through its zTOC",
  options: [{ flags: "-o, --output <path>", description: "Write the file here instead of stdout" }],
  async run(ctx, args, flags) {
    const digest = digestArg(args[0] as string, "digest");
    const file = args[1] as string;
    const output = stringFlag(flags, "output", "--output");
    await ztocGetFile(ctx, { digest, file, ...(output !== undefined ? { output } : {}) });
  },
};
