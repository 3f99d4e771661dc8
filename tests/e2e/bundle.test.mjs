// The deployable bundle (build/, what `wrangler deploy` uploads) never carries the `bench` routes
// or the `test-faults` switches: scripts/build.sh refuses those features for build/, and
// wrangler.toml's build command drops them from the environment. Checked on the built files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { root } from "./harness.mjs";

const wasm = (dir) => join(root, dir, "index_bg.wasm");

function buildSh(env) {
  // FAROE_SKIP_BUILD=1: with build/ present nothing is compiled; the refusal comes first.
  return spawnSync("bash", ["scripts/build.sh"], {
    cwd: root, env: { ...process.env, FAROE_SKIP_BUILD: "1", ...env }, encoding: "utf8",
  });
}

test("build.sh refuses the bench and test-faults features for build/", () => {
  assert.ok(existsSync(wasm("build")), "run scripts/build.sh first");
  const before = statSync(wasm("build")).mtimeMs;
  for (const features of ["bench", "test-faults", "bench,test-faults", "test-faults bench", "d1,bench", "faroe-worker/bench", "test-faults,faroe_worker/test-faults"]) {
    for (const outDir of [undefined, "build", "./build/", join(root, "build")]) {
      const env = { FAROE_FEATURES: features };
      if (outDir !== undefined) env.FAROE_OUT_DIR = outDir;
      const r = buildSh(env);
      assert.equal(r.status, 1, `${features} → ${outDir}: ${r.stderr}`);
      assert.match(r.stderr, /refusing to build the '(bench|test-faults)' feature into build\//);
    }
  }
  // Other directories may have them (build-test, the bench bundles).
  assert.equal(buildSh({ FAROE_FEATURES: "test-faults", FAROE_OUT_DIR: "build-test" }).status, 0);
  assert.equal(statSync(wasm("build")).mtimeMs, before, "build/ untouched");
});

test("wrangler.toml's build command drops FAROE_FEATURES and FAROE_OUT_DIR", () => {
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  const command = /^\[build\]\s*\ncommand\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  assert.ok(command, "a [build] command");
  // Run as wrangler deploy would, with a shell that has both set: it must not refuse (it skips,
  // build/ being built), which it would if the features reached build.sh.
  const r = spawnSync("sh", ["-c", command], {
    cwd: root, encoding: "utf8",
    env: { ...process.env, FAROE_SKIP_BUILD: "1", FAROE_FEATURES: "bench,test-faults", FAROE_OUT_DIR: "build" },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /refusing/);
});

test("the deploy bundle has no bench routes or fault switches; the test bundle has its switches", () => {
  const deploy = readFileSync(wasm("build"));
  for (const marker of ["/__bench/", "X-Faroe-Test-Fault", "count-hashes"]) {
    assert.equal(deploy.includes(marker), false, `build/ contains ${marker}`);
  }
  // The scan finds such strings where they are compiled in.
  if (existsSync(wasm("build-test"))) {
    assert.equal(readFileSync(wasm("build-test")).includes("X-Faroe-Test-Fault"), true);
  }
});
