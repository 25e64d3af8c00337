/**
 * `soci login REGISTRY`: checks credentials against the registry (`GET /v2/`
 * with Basic auth, or the token flow it asks for) and stores them in the
 * Docker config's `auths` (written atomically, 0600), where every soci
 * command — and docker, skopeo, nerdctl — finds them. The password comes from
 * `--password-stdin` (recommended), `--password`, or `-u USER:PASS`.
 */
import { RegistryError, UsageError } from "../../core-wasm/src/errors.ts";
import { hostBaseUrl, RegistryClient, staticCredentials } from "../../core-wasm/src/registry/mod.ts";
import { boolFlag, stringFlag, type CommandSpec, type Context } from "../command.ts";
import { saveAuth } from "./_docker_config.ts";
import { registryNameOf } from "./logout.ts";

/** Asks `GET /v2/` with these credentials; throws RegistryError (401 with a hint) when refused. */
async function checkLogin(ctx: Context, registry: string, username: string, password: string): Promise<void> {
  const r = ctx.registry;
  const client = new RegistryClient({
    credentials: staticCredentials({ username, password }),
    plainHttp: r.plainHttp,
    insecureHosts: r.insecureHosts,
    plainHttpLoopback: true,
    ...(r.hostsDir !== undefined ? { hostsDir: r.hostsDir } : {}),
    ...(ctx.out.debug ? { debug: (line: string) => ctx.out.trace(line) } : {}),
    retry: { maxRetries: 2 },
  });
  const host = (await client.hosts(registry)).find((h) => h.capabilities.includes("push")) ?? (await client.hosts(registry))[0];
  const res = await client.transport.request({
    method: "GET", url: new URL(`${hostBaseUrl(host)}/`), scopes: [], action: `log in to ${JSON.stringify(registry)} as ${JSON.stringify(username)}`, ok: [200],
  });
  await res.discard();
}

export const loginCommand: CommandSpec = {
  name: "login",
  args: "<registry>",
  description: "Log in to a registry (stores credentials in ~/.docker/config.json)",
  options: [
    { flags: "--username <name>", description: "User name (also -u NAME or -u NAME:PASS)" },
    { flags: "--password <pass>", description: "Password (visible to other users of this machine: prefer --password-stdin)" },
    { flags: "--password-stdin", description: "Read the password from standard input" },
  ],
  examples: ["echo \"$TOKEN\" | soci login -u ci --password-stdin registry.example:5000"],
  async run(ctx, args, flags) {
    const registry = registryNameOf(args[0] as string);
    let username = stringFlag(flags, "username", "--username");
    let password = stringFlag(flags, "password", "--password");
    const user = ctx.registry.user ?? stringFlag(flags, "user", "--user");
    if (user !== undefined) {
      const at = user.indexOf(":");
      if (at > 0) {
        username ??= user.slice(0, at);
        password ??= user.slice(at + 1);
      } else username ??= user;
    }
    if (boolFlag(flags, "passwordStdin")) {
      if (password !== undefined) throw new UsageError("Cannot use --password and --password-stdin together");
      if (ctx.readStdin === undefined) throw new UsageError("Cannot use --password-stdin: standard input is not available here");
      password = (await ctx.readStdin()).replace(/\r?\n$/, "");
    }
    if (username === undefined || username === "") throw new UsageError("Cannot log in: a user name is required", { hint: "Pass -u NAME" });
    if (password === undefined || password === "") throw new UsageError("Cannot log in: a password is required", { hint: "Pipe it in with --password-stdin" });
    if (stringFlag(flags, "password", "--password") !== undefined) ctx.out.warn("--password is visible to other processes; use --password-stdin");
    try {
      await checkLogin(ctx, registry, username, password);
    } catch (e) {
      if (e instanceof RegistryError && (e.details.status === 401 || e.details.status === 403)) {
        throw new RegistryError(`Cannot log in to ${registry} as ${JSON.stringify(username)}: the registry refused the credentials`, e.details, {
          hint: "Check the user name and password; nothing was stored",
          cause: e,
        });
      }
      throw e;
    }
    const saved = await saveAuth(ctx, registry, username, password);
    if (saved.shadowedBy !== undefined) ctx.out.warn(`credential helper docker-credential-${saved.shadowedBy} is configured for ${registry} and is asked first`);
    if (ctx.out.json) ctx.out.printJson({ registry, username, config: saved.path });
    else ctx.out.info(`Login Succeeded (credentials for ${registry} stored in ${saved.path})`);
  },
};
