#!/usr/bin/env bash
# Builds the real peers of the end-to-end tests from the Go module proxy and prints where
# they are, one NAME=path line each:
#   OTELCOL  an OpenTelemetry Collector with exactly the components otel-collector.yaml
#            uses (test/peers/collector/manifest.yaml, built by the official builder);
#   JAEGER   Jaeger v2 all-in-one (test/peers/jaeger/go.mod, a tools module).
# Binaries are cached outside the repo, keyed by a hash of their manifest and the Go
# version, so only the first run on a machine builds (see README for the measured time).
# CONDUCTOR_HEALTH_PEERS overrides the cache directory. Build output goes to stderr.
# With --no-build it only looks: a missing binary is an error that says what to run
# (the tests use this, so `npm test` fails at once rather than building for minutes).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${CONDUCTOR_HEALTH_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/conductor-health/peers}
builder=go.opentelemetry.io/collector/cmd/builder@v0.165.0
build=true
[ "${1:-}" = --no-build ] && build=false
mkdir -p "$cache"

# Two test files may ask at once: one builds, the other waits and finds the binary.
exec 9>"$cache/.lock"
flock 9

# Builds are CPU heavy; keep the rest of the machine responsive.
gobin=$(command -v go) || { echo "peers: go not found: install Go >= 1.26" >&2; exit 1; }
go() { nice -n 10 "$gobin" "$@"; }

missing() {
  $build && return 0
  echo "peers: $1 is not built for this manifest ($2 is missing): run .ci/peers.sh (or .ci/run) first; the first build takes about 20 minutes" >&2
  exit 1
}

key() { (go version; cat "$@") | sha256sum | cut -c1-16; }

collector() {
  local manifest=$repo/test/peers/collector/manifest.yaml
  local dir=$cache/otelcol-$(key "$manifest")
  if [ ! -x "$dir/otelcol-conductor/otelcol-conductor" ]; then
    missing "the Collector" "$dir"
    local start=$SECONDS
    echo "peers: building the Collector into $dir (first run only)" >&2
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$manifest" "$dir/manifest.yaml"
    # The builder writes main.go, components.go and go.mod to output_path, then builds.
    (cd "$dir" && go run "$builder" --config manifest.yaml) >&2
    echo "peers: Collector built in $((SECONDS - start)) s" >&2
  fi
  echo "OTELCOL=$dir/otelcol-conductor/otelcol-conductor"
}

jaeger() {
  local tools=$repo/test/peers/jaeger
  local dir=$cache/jaeger-$(key "$tools/go.mod" "$tools/go.sum")
  if [ ! -x "$dir/jaeger" ]; then
    missing Jaeger "$dir"
    local start=$SECONDS
    echo "peers: building Jaeger into $dir (first run only)" >&2
    mkdir -p "$dir"
    (cd "$tools" && go build -trimpath -ldflags='-s -w' -o "$dir/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) >&2
    mv "$dir/jaeger.tmp" "$dir/jaeger"
    echo "peers: Jaeger built in $((SECONDS - start)) s" >&2
  fi
  echo "JAEGER=$dir/jaeger"
}

collector
jaeger
