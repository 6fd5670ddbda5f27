#!/usr/bin/env bash
# Builds a Debian 12 (systemd) unified image with debootstrap:
# scripts/build-debian-image.sh OUT.tar.gz
# The debootstrapped tree is cached in /var/cache/lodge-images so that later
# runs only pack it.
set -euo pipefail
out=${1:?usage: build-debian-image.sh OUT.tar.gz}
cache=${LODGE_IMAGE_CACHE:-/var/cache/lodge-images}/debian-bookworm-v2
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}

if [ ! -f "$cache/.complete" ]; then
  rm -rf "$cache.partial"
  mkdir -p "$(dirname "$cache")"
  echo "debootstrap bookworm from $mirror (cached in $cache)"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2,ifupdown,procps \
    bookworm "$cache.partial" "$mirror" >"$cache.log" 2>&1 || { tail -20 "$cache.log" >&2; exit 1; }
  root=$cache.partial
  echo "debian" > "$root/etc/hostname"
  : > "$root/etc/machine-id"
  # DHCP on eth0 through systemd-networkd (part of Debian's systemd).
  mkdir -p "$root/etc/systemd/network" "$root/etc/systemd/system/multi-user.target.wants"
  printf '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n' > "$root/etc/systemd/network/eth0.network"
  ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
  # A container has no consoles or udev to wait for.
  for unit in getty@tty1.service systemd-udevd.service systemd-udev-trigger.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
  touch "$root/.complete"
  mv "$cache.partial" "$cache"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/metadata.yaml" <<META
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  os: debian
  release: bookworm
  description: Debian 12 bookworm (debootstrap, systemd)
META
tar --numeric-owner --xattrs --xattrs-include='*' -czf "$out" -C "$work" metadata.yaml \
  --transform 's,^\./,rootfs/,;s,^\.$,rootfs,' -C "$cache" --exclude=./.complete .
echo "built $out"
