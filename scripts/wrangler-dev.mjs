// Running `wrangler dev` from Node scripts: the end-to-end harness (tests/e2e), the browser test
// (js/test) and the benchmarks (scripts/bench) all start, wait for and stop it the same way.
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const wrangler = join(root, "node_modules", ".bin", "wrangler");

/**
 * Writes to `path` the repository's wrangler.toml for a prebuilt bundle: `main` set to the absolute
 * `main` given, no `[build]` step, `migrations_dir` absolute (wrangler resolves paths relative to
 * the config file), and `vars` set over the file's own `[vars]`. Returns `path`.
 */
export async function writeBundleConfig({ main, path, vars = {} }) {
  const lines = (await readFile(join(root, "wrangler.toml"), "utf8")).split("\n");
  const out = [];
  let table = "";
  let sawVars = false;
  const flushVars = () => {
    for (const [k, v] of Object.entries(vars)) out.push(`${k} = ${JSON.stringify(v)}`);
  };
  for (const line of lines) {
    const header = /^\s*\[\[?([^\]]+)\]\]?\s*$/.exec(line);
    if (header) {
      if (table === "vars") flushVars();
      table = header[1].trim();
      if (table === "vars") sawVars = true;
    }
    if (table === "build") continue;
    const key = /^\s*([A-Za-z0-9_]+)\s*=/.exec(line)?.[1];
    if (table === "" && key === "main") {
      out.push(`main = ${JSON.stringify(main)}`);
      continue;
    }
    if (key === "migrations_dir") {
      out.push(`migrations_dir = ${JSON.stringify(join(root, "migrations"))}`);
      continue;
    }
    if (table === "vars" && key && key in vars) continue;
    out.push(line);
  }
  if (table === "vars") flushVars();
  if (!sawVars && Object.keys(vars).length > 0) {
    out.push("[vars]");
    flushVars();
  }
  await writeFile(path, out.join("\n"));
  return path;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * The environment for wrangler: Wrangler needs Node >= 22.12, so the project's node_modules/.bin
 * (Node 22) goes first on PATH; no build step (the bundles are prebuilt), no metrics, no prompts.
 */
export function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}`,
    FAROE_SKIP_BUILD: "1",
    WRANGLER_SEND_METRICS: "false",
    CI: "true",
    ...extra,
  };
}

/**
 * Spawns `wrangler dev <args>` in its own process group and resolves once `readyUrl` answers
 * a response that `isReady` accepts (any response by default). Rejects with wrangler's output if
 * it exits or is not ready within `timeoutMs`. `logs` collects its output line by line; `stop()`
 * ends the whole group (SIGTERM, then SIGKILL after 5 s).
 */
export async function startWranglerDev(args, { env, readyUrl, isReady = () => true, timeoutMs = 90_000 }) {
  const child = spawn(wrangler, ["dev", ...args], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const logs = [];
  const onData = (d) => logs.push(...d.toString().split("\n").filter(Boolean));
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    try { process.kill(-child.pid, "SIGTERM"); } catch {}
    const timer = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${logs.join("\n")}`);
    try {
      const r = await fetch(readyUrl);
      await r.text();
      if (isReady(r)) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not start:\n${logs.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { pid: child.pid, logs, stop };
}
