#!/usr/bin/env bash
# Benchmarks Lodge against LXD (Debian's lxd 5.0) on this machine, with the
# same client (Debian's lxc) for both. Writes bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-buildvcs=false

missing=()
for p in lxd lxd-client lxcfs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p test/.cache
[ -f test/.cache/busybox.tar.gz ] || ./scripts/build-busybox-image.sh test/.cache/busybox.tar.gz >/dev/null
./scripts/build-debian-image.sh test/.cache/debian.tar.gz >/dev/null
go build -tags seccomp -o bin/lodgebench ./bench/lodgebench
exec ./bin/lodgebench -lodged bin/lodged -busybox test/.cache/busybox.tar.gz -debian test/.cache/debian.tar.gz -out bench/RESULTS.md "$@"
