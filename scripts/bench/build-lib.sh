# The build half shared by `npm run bench` (scripts/bench.sh) and `npm run calibrate`
# (scripts/calibrate.sh): sourced, not run. Expects the repository root as the working directory.
# Everything goes under target/bench/; the deployable build/ is never touched.
root="$PWD"
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
out="$root/target/bench"
mkdir -p "$out"

# worker-build sets this for the wasm-bindgen proc-macro; setting it for our own cargo builds too
# lets them share compiled artifacts with worker-build's.
export WASM_BINDGEN_USE_JS_SYS=1

log() { echo "${BENCH_LOG_PREFIX:-bench}: $*" >&2; }

# Whether $1 exists and is newer than every source that goes into a build.
up_to_date() {
  [ "${BENCH_REBUILD:-}" != "1" ] && [ -e "$1" ] &&
    [ -z "$(find src .cargo Cargo.toml Cargo.lock -newer "$1" -print -quit)" ]
}

# Cargo settings of a variant: the release profile as is (with simd128 from .cargo/config.toml),
# without simd128 (an empty RUSTFLAGS replaces the config's flags, so the portable Argon2
# compression runs), or at opt-level s / z. Each variant has its own target dir so switching
# between them never rebuilds the others.
variant_env() {
  local opt=3 flags=""
  case "$1" in
    O3) ;;
    nosimd) flags="RUSTFLAGS=" ;;
    s | z) opt="$1" ;;
    *) log "unknown variant $1"; exit 1 ;;
  esac
  echo "CARGO_TARGET_DIR=$out/cargo-$1 CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt $flags"
}

# The same wasm as the bench Worker, bound for Node (`require`), optimised with the wasm-opt flags
# worker-build 0.8.7 uses, so Node runs the Worker's exact hashing code.
build_node() {
  local v="$1" dir="$out/node-$1"
  if up_to_date "$dir/faroe_worker_bg.wasm"; then return; fi
  log "building the $v wasm for Node"
  env $(variant_env "$v") cargo build --quiet --lib --release \
    --target wasm32-unknown-unknown --features bench
  rm -rf "$dir"
  wasm-bindgen --target nodejs --out-dir "$dir" \
    "$out/cargo-$v/wasm32-unknown-unknown/release/faroe_worker.wasm"
  wasm-opt -O --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling \
    --debuginfo "$dir/faroe_worker_bg.wasm" -o "$dir/faroe_worker_bg.wasm"
  # The package root is "type": "module"; the bindings are CommonJS, their snippets ES modules.
  echo '{"type":"commonjs"}' >"$dir/package.json"
  if [ -d "$dir/snippets" ]; then echo '{"type":"module"}' >"$dir/snippets/package.json"; fi
}

# A Worker bundle made by scripts/build.sh (worker-build --release), into $out/$2.
build_worker() {
  local v="$1" name="$2" features="$3" dir="$out/$2"
  if up_to_date "$dir/index_bg.wasm"; then return; fi
  log "building the $name Worker bundle"
  rm -rf "$dir"
  env $(variant_env "$v") FAROE_SKIP_BUILD= FAROE_OUT_DIR="$dir" FAROE_FEATURES="$features" \
    bash scripts/build.sh >"$out/$name.build.log" 2>&1 ||
    { cat "$out/$name.build.log" >&2; exit 1; }
}

