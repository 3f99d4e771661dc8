// The bench Worker in local workerd, shared by `npm run bench` (run.mjs) and `npm run calibrate`
// (calibrate.mjs): starting it under wrangler dev, and reading its CPU time from /proc.
import { execFile as execFileCb } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { root, wrangler, freePort, wranglerEnv, startWranglerDev, writeBundleConfig } from "../wrangler-dev.mjs";

const execFile = promisify(execFileCb);

export const median = (values) => {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  return n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
};

/**
 * The repo's wrangler.toml pointed at a bundle under target/bench, with no build step. In
 * `configDir` when given (wrangler keeps its `.wrangler/tmp` next to the config, and watches it:
 * two runs of one bundle must not share them), else next to the bundle.
 */
function writeConfig(dir, configDir = dir) {
  return writeBundleConfig({ main: join(dir, "index.js"), path: join(configDir, "wrangler.bench.toml") });
}

/**
 * A bench Worker bundle (`dir`, built by scripts/bench/build-lib.sh) under wrangler dev on
 * 127.0.0.1, in development mode with `vars` over the defaults, its D1 migrated into a fresh
 * persistence directory that `stop()` removes, or into `persistTo` when given (kept by `stop()`,
 * so a restarted Worker finds the same state).
 */
export async function startWorker(dir, vars, { persistTo: keptState, configDir } = {}) {
  const config = await writeConfig(dir, configDir);
  const persistTo = keptState ?? (await mkdtemp(join(tmpdir(), "faroe-bench-")));
  const port = await freePort();
  const env = wranglerEnv();
  await execFile(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo, "-c", config], { cwd: root, env });
  const allVars = {
    // The unauthenticated endpoint needs development mode (the bench Worker is never deployed).
    DEVELOPMENT_MODE: "true",
    ALLOW_UNAUTHENTICATED_ENDPOINT: "true",
    PASSWORD_BREACH_CHECK: "off",
    ...vars,
  };
  const args = [
    "-c", config,
    "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(await freePort()),
    "--persist-to", persistTo,
    "--show-interactive-dev-session=false",
    "--log-level", "warn",
  ];
  for (const [k, v] of Object.entries(allVars)) args.push("--var", `${k}:${v}`);
  const url = `http://127.0.0.1:${port}`;
  const dev = await startWranglerDev(args, {
    env, readyUrl: `${url}/__bench/baseline`, isReady: (r) => r.status === 200,
  });
  return {
    url,
    config,
    persistTo,
    logs: dev.logs,
    pgid: dev.pid,
    async stop() {
      await dev.stop();
      if (!keptState) await rm(persistTo, { recursive: true, force: true });
    },
  };
}

/**
 * CPU time (user + system, ms) used so far by the workerd processes of a wrangler dev session, from
 * /proc: on a 2-core machine shared with the load generator, CPU per request is the steadier
 * figure of what the Worker itself costs.
 */
export async function workerdCpuMs(pgid) {
  let ticks = 0;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try { stat = await readFile(`/proc/${entry}/stat`, "utf8"); } catch { continue; }
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    // fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
    if (comm === "workerd" && Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10; // USER_HZ = 100
}
