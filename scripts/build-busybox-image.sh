#!/usr/bin/env bash
# Builds a tiny LXD-format unified image from Debian's busybox-static, with
# no network: scripts/build-busybox-image.sh OUT.tar.gz
set -euo pipefail
out=${1:?usage: build-busybox-image.sh OUT.tar.gz}
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-static is missing: run scripts/install-deps.sh" >&2; exit 1; }
# ldd (libc-bin, on every Debian) says "not a dynamic executable" of a static
# binary and exits 1: read its words, not its status, which pipefail would
# turn into a failure of the whole check.
linkage=$(ldd "$bb" 2>&1 || true)
case "$linkage" in
  *"not a dynamic executable"*) ;;
  *) echo "$bb is not static: install busybox-static (scripts/install-deps.sh)" >&2; exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run,var/log,home}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  ln -sf /bin/busybox "$root/$applet"
done
mkdir -p "$root/etc/udhcpc"
cat > "$root/etc/udhcpc/default.script" <<'DHCP'
#!/bin/sh
# busybox udhcpc hook: configure the interface from the lease.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$router" ]; then
      ip route del default 2>/dev/null
      for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    fi
    : > /etc/resolv.conf
    [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done ;;
esac
DHCP
chmod 755 "$root/etc/udhcpc/default.script"
mkdir -p "$root/etc/init.d"
cat > "$root/etc/init.d/rcS" <<'RCS'
#!/bin/sh
# Boot: the run directory, then DHCP on every ethernet NIC there is.
mkdir -p /run/lock
for i in /sys/class/net/eth*; do
  [ -e "$i" ] && udhcpc -b -S -i "${i##*/}" -x "hostname:$(hostname)" >/dev/null 2>&1
done
exit 0
RCS
chmod 755 "$root/etc/init.d/rcS"
cat > "$root/etc/inittab" <<'INIT'
::sysinit:/etc/init.d/rcS
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
INIT
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\nuser:x:1000:\n' > "$root/etc/group"
mkdir -p "$root/home/user" && chown 1000:1000 "$root/home/user"
echo "busybox" > "$root/etc/hostname"
cat > "$work/metadata.yaml" <<META
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  os: busybox
  release: "$("$bb" | head -1 | awk '{print $2}')"
  description: busybox (Debian busybox-static)
META
tar -C "$work" --numeric-owner -czf "$out" metadata.yaml rootfs
echo "built $out"
