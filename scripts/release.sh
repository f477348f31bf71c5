#!/usr/bin/env bash
# Release archives without GoReleaser: incident-mcp and incident-sim for
# linux, darwin and windows on amd64 and arm64, one .tar.gz each (Windows
# 10 and later unpack them with tar), SHA256SUMS over the archives, and an
# SBOM per archive from the binary's embedded build info (go version -m).
# Usage: scripts/release.sh VERSION [PLATFORM...]   (PLATFORM like linux/amd64)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/release.sh VERSION [os/arch...]}
shift
platforms=("$@")
if [ ${#platforms[@]} -eq 0 ]; then
  platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)
fi
go=${GO:-go}
rm -rf dist
mkdir -p dist
for p in "${platforms[@]}"; do
  os=${p%/*} arch=${p#*/}
  ext=""; [ "$os" = windows ] && ext=.exe
  name="incident-mcp_${version}_${os}_${arch}"
  dir="dist/$name"
  mkdir -p "$dir"
  echo "building $name" >&2
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch $go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$dir/incident-mcp$ext" ./cmd/incident-mcp
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch $go build -trimpath -ldflags "-s -w" -o "$dir/incident-sim$ext" ./cmd/incident-sim
  cp README.md "$dir/"
  # The SBOM: every module compiled in, with its version and go.sum hash.
  $go version -m "$dir/incident-mcp$ext" > "dist/$name.sbom.txt"
  tar -C dist -czf "dist/$name.tar.gz" "$name"
  rm -rf "$dir"
done
(cd dist && sha256sum -- *.tar.gz *.sbom.txt > SHA256SUMS)
echo "dist/: $(ls dist | wc -l) files; verify with: (cd dist && sha256sum -c SHA256SUMS)" >&2
