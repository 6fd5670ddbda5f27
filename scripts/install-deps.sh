#!/usr/bin/env bash
# Installs the Debian packages Lodge needs to build, run and test. Idempotent:
# packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  gcc libc6-dev make pkg-config libseccomp-dev  # build: cgo (nsexec, attach), a static lodged
  busybox-static                       # the local test/demo image
  xz-utils zstd squashfs-tools          # image formats
  isal                                 # igzip: gzip images and backups decompress 4x faster
  debootstrap                          # the Debian test image
  lxd-client python3-pylxd             # the reference clients
  ansible                              # and Ansible's LXD modules (community.general)
  lxd                                  # the reference daemon: backups move to and from it
  iproute2 procps util-linux           # host tools the tests use
  dnsmasq-base nftables                # managed networks: DHCP/DNS and NAT
  xfsprogs                             # reflink-capable scratch filesystems for storage tests
  btrfs-progs                          # btrfs pools (mkfs.btrfs; btrfs for quotas)
  rsync                                # migration: LXD's transfer, run in a sandbox
  criu                                 # stateful migration, offered only where `criu check` passes
  lxcfs                                # containers' own /proc views (meminfo, cpuinfo, uptime...)
  pci.ids                              # hardware names in GET /1.0/resources (lxc info --resources)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || apt-get update
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi
