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
images=(-lodged bin/lodged -busybox test/.cache/busybox.tar.gz -debian test/.cache/debian.tar.gz -out bench/RESULTS.md)

# Once on the machine's own filesystem (ext4 here: every copy writes data)...
fs=$(findmnt -n -o FSTYPE -T /tmp 2>/dev/null || stat -f -c %T /tmp)
./bin/lodgebench "${images[@]}" -root /tmp/lodgebench -label "$fs (/tmp)" "$@"

# ...and once on XFS on a loop file, where the dir pool's copies are
# reflinks (LXD's dir driver unpacks and rsyncs either way).
command -v mkfs.xfs >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xfsprogs >/dev/null
img=/var/tmp/lodgebench-xfs.img mnt=/tmp/lodgebench-xfs
umount "$mnt" 2>/dev/null || true
rm -f "$img" && truncate -s 40G "$img" && mkfs.xfs -q -f "$img"
mkdir -p "$mnt" && mount -o loop "$img" "$mnt"
trap 'umount "$mnt" 2>/dev/null; rm -f "$img"' EXIT
./bin/lodgebench "${images[@]}" -root "$mnt/lodgebench" -label "xfs (loop file, reflinks)" -append "$@"
