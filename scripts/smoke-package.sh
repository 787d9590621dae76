#!/usr/bin/env bash
# Packs the package, installs the tarball in a scratch app, and loads it with require() and import.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$root"
tarball=$(npm pack --silent --pack-destination "$scratch" | tail -n 1)
cd "$scratch"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "./$tarball" >/dev/null
cp "$root"/test/package/smoke.* .
node smoke.cjs
node smoke.mjs
