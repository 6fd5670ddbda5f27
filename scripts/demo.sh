#!/usr/bin/env bash
# Lodge's main job in one go: lodged up on the default directory, a busybox
# image built locally and imported, a container launched, commands run in it.
set -euo pipefail
cd "$(dirname "$0")/.."
export LODGE_DIR=${LODGE_DIR:-/var/lib/lodge}
lodge=./bin/lodge
mkdir -p "$LODGE_DIR"

if ! $lodge version 2>/dev/null | grep -q "Server version: [0-9]"; then
  echo "==> starting lodged (log: $LODGE_DIR/lodged.log)"
  nohup ./bin/lodged --dir "$LODGE_DIR" >>"$LODGE_DIR/lodged.log" 2>&1 &
  for _ in $(seq 50); do $lodge version 2>/dev/null | grep -q "Server version: [0-9]" && break; sleep 0.1; done
fi
$lodge version

if ! $lodge image show busybox >/dev/null 2>&1; then
  echo "==> building and importing the busybox image"
  img=$(mktemp --suffix=.tar.gz)
  ./scripts/build-busybox-image.sh "$img"
  $lodge image import "$img" --alias busybox
  rm -f "$img"
fi

name=demo-$(date +%s)
echo "==> lodge launch busybox $name"
$lodge launch busybox "$name" -c limits.memory=64MiB
echo "==> lodge exec $name -- uname -a"
$lodge exec "$name" -- uname -a
echo "==> lodge exec $name -- cat /proc/self/uid_map   (unprivileged: root is mapped)"
$lodge exec "$name" -- cat /proc/self/uid_map
echo "==> lodge exec $name -- ps"
$lodge exec "$name" -- ps
echo "==> lodge list"
$lodge list
echo
echo "The container $name keeps running. Try: ./bin/lodge exec $name -- sh"
echo "Remove it with: ./bin/lodge delete -f $name"
