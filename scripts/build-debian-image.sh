#!/usr/bin/env bash
# Builds a Debian 12 (systemd) unified image with debootstrap:
# scripts/build-debian-image.sh OUT.tar.gz [cloud]
# With "cloud", the image has Debian's cloud-init and the templates that
# hand it a NoCloud seed from the instance's config, as LXD's cloud images
# do (cloud-init.user-data, .vendor-data, .network-config; the instance's
# name as hostname; DHCP on eth0 by default).
# The debootstrapped tree is cached in /var/cache/lodge-images so that later
# runs only pack it.
set -euo pipefail
out=${1:?usage: build-debian-image.sh OUT.tar.gz [cloud]}
variant=${2:-}
include=systemd,systemd-sysv,dbus,iproute2,ifupdown,procps
cache=${LODGE_IMAGE_CACHE:-/var/cache/lodge-images}/debian-bookworm-v2
if [ "$variant" = cloud ]; then
  # python3-cffi-backend: debootstrap does not resolve the virtual packages
  # python3-cryptography needs.
  include=$include,cloud-init,python3-cffi-backend
  cache=${LODGE_IMAGE_CACHE:-/var/cache/lodge-images}/debian-bookworm-cloud-v2
fi
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}

if [ ! -f "$cache/.complete" ]; then
  rm -rf "$cache.partial"
  mkdir -p "$(dirname "$cache")"
  echo "debootstrap bookworm from $mirror (cached in $cache)"
  debootstrap --variant=minbase --include="$include" \
    bookworm "$cache.partial" "$mirror" >"$cache.log" 2>&1 || { tail -20 "$cache.log" >&2; exit 1; }
  root=$cache.partial
  echo "debian" > "$root/etc/hostname"
  : > "$root/etc/machine-id"
  # DHCP on eth0 through systemd-networkd (part of Debian's systemd); in
  # the cloud image, cloud-init writes the network's config for networkd.
  mkdir -p "$root/etc/systemd/network" "$root/etc/systemd/system/multi-user.target.wants"
  if [ "$variant" = cloud ]; then
    cat > "$root/etc/cloud/cloud.cfg.d/95-lodge.cfg" <<'CFG'
# Lodge's cloud image: the seed comes from /dev/lxd or from the image's
# templates (NoCloud); networkd applies the network config.
datasource_list: [LXD, NoCloud, None]
# Generated locales are not in a minbase image; C.UTF-8 always is.
locale: C.UTF-8
system_info:
  network:
    renderers: [networkd]
CFG
  else
    printf '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n' > "$root/etc/systemd/network/eth0.network"
  fi
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
  description: Debian 12 bookworm (debootstrap, systemd${variant:+, $variant})
META
members=(metadata.yaml)
if [ "$variant" = cloud ]; then
  mkdir -p "$work/templates"
  seed=/var/lib/cloud/seed/nocloud-net
  cat >> "$work/metadata.yaml" <<META
templates:
  /etc/hostname:
    when: [create, copy, rename]
    template: hostname.tpl
  $seed/meta-data:
    when: [create, copy]
    template: cloud-init-meta.tpl
  $seed/user-data:
    when: [create, copy]
    template: cloud-init-user.tpl
    properties:
      default: "#cloud-config\n{}"
  $seed/vendor-data:
    when: [create, copy]
    template: cloud-init-vendor.tpl
    properties:
      default: "#cloud-config\n{}"
  $seed/network-config:
    when: [create, copy]
    template: cloud-init-network.tpl
META
  printf '{{ instance.name }}\n' > "$work/templates/hostname.tpl"
  cat > "$work/templates/cloud-init-meta.tpl" <<'TPL'
instance-id: {{ config_get("volatile.cloud-init.instance-id", instance.name) }}
local-hostname: {{ instance.name }}
{{ config_get("user.meta-data", "") }}
TPL
  # The new key wins over the older user.* one.
  printf '%s\n' '{{ config_get("cloud-init.user-data", config_get("user.user-data", properties.default)) }}' > "$work/templates/cloud-init-user.tpl"
  printf '%s\n' '{{ config_get("cloud-init.vendor-data", config_get("user.vendor-data", properties.default)) }}' > "$work/templates/cloud-init-vendor.tpl"
  cat > "$work/templates/cloud-init-network.tpl" <<'TPL'
{% if config_get("cloud-init.network-config", "") != "" %}{{ config_get("cloud-init.network-config", "") }}
{% elif config_get("user.network-config", "") != "" %}{{ config_get("user.network-config", "") }}
{% else %}version: 1
config:
  - type: physical
    name: eth0
    subnets:
      - type: dhcp
        control: auto
{% endif %}
TPL
  members+=(templates)
fi
tar --numeric-owner --xattrs --xattrs-include='*' -czf "$out" -C "$work" "${members[@]}" \
  --transform 's,^\./,rootfs/,;s,^\.$,rootfs,' -C "$cache" --exclude=./.complete .
echo "built $out"
