package btrfs_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/btrfs"
)

// A copy made from streams keeps its last snapshot as received, and a
// refresh then comes as the changes since it: new snapshots added, the
// volume swapped whole, the kept snapshot moved on. Streams against
// anything else are refused, and the copy is left as it was.
func TestRefreshByIncrementalStreams(t *testing.T) {
	mnt := scratch(t)
	src, err := btrfs.New(filepath.Join(mnt, "source"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := btrfs.New(filepath.Join(mnt, "target"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c1 := vol("c1")
	if err := src.CreateEmptyVolume(c1); err != nil {
		t.Fatal(err)
	}
	file := func(d *btrfs.Driver, path string) string {
		b, _ := os.ReadFile(filepath.Join(d.VolumePath(c1), "rootfs", path))
		return string(b)
	}
	write := func(path, data string) {
		if err := os.WriteFile(filepath.Join(src.VolumePath(c1), "rootfs", path), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	send := func(snap, parent string) *bytes.Buffer {
		var b bytes.Buffer
		if _, err := src.WriteStream(ctx, c1, storage.StreamSpec{Snapshot: snap, Parent: parent}, &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	write("a", "one")
	if err := src.CreateSnapshot(ctx, c1, "s0"); err != nil {
		t.Fatal(err)
	}
	write("a", "two")
	err = dst.ReceiveStreams(ctx, c1, streams(
		storage.VolumeStream{Snapshot: "s0", Keep: true, R: send("s0", "")},
		storage.VolumeStream{R: send("", "s0")}), noFix)
	if err != nil {
		t.Fatal(err)
	}
	if got, id := dst.ReceivedBase(c1); got != "s0" {
		t.Fatalf("the copy keeps %q as received, want s0", got)
	} else if want, _ := src.StreamID(c1, "s0"); id != want {
		t.Errorf("the copy's received base came from %s, want the source's s0 (%s)", id, want)
	}

	// A stream against the source's s0 that the target does not keep as
	// received (the source's own volume) is refused; nothing changes.
	write("a", "three")
	write("b", "new")
	if err := src.CreateSnapshot(ctx, c1, "s1"); err != nil {
		t.Fatal(err)
	}
	err = dst.RefreshStreams(ctx, c1, streams(
		storage.VolumeStream{Snapshot: "s1", Keep: true, R: send("s1", "s0")},
		storage.VolumeStream{R: send("", "s1"), Snapshot: "s0"}), noFix)
	if err == nil {
		t.Fatal("a refresh that sends snapshot s0 again was taken")
	}
	if got := file(dst, "a"); got != "two" {
		t.Fatalf("a refused refresh left the volume with %q", got)
	}

	// The honest refresh: s1 since s0, then the volume since s1.
	write("a", "four")
	err = dst.RefreshStreams(ctx, c1, streams(
		storage.VolumeStream{Snapshot: "s1", Keep: true, R: send("s1", "s0")},
		storage.VolumeStream{R: send("", "s1")}), noFix)
	if err != nil {
		t.Fatal(err)
	}
	if file(dst, "a") != "four" || file(dst, "b") != "new" {
		t.Fatalf("the refreshed volume holds a=%q b=%q", file(dst, "a"), file(dst, "b"))
	}
	snaps, _ := dst.SnapshotNames(c1)
	if !slices.Equal(snaps, []string{"s0", "s1"}) {
		t.Fatalf("the refreshed copy's snapshots: %v", snaps)
	}
	if b, _ := os.ReadFile(filepath.Join(dst.SnapPath(c1, "s1"), "rootfs", "a")); string(b) != "three" {
		t.Fatalf("the new snapshot holds %q", b)
	}
	if got, _ := dst.ReceivedBase(c1); got != "s1" {
		t.Fatalf("after the refresh the copy keeps %q as received, want s1", got)
	}
	if left, _ := dst.RemoveLeftovers(); len(left) != 0 {
		t.Fatalf("the refresh left %v", left)
	}

	// Only the volume changed: streams since s1 again.
	write("a", "five")
	if err := dst.RefreshStreams(ctx, c1, streams(storage.VolumeStream{R: send("", "s1")}), noFix); err != nil {
		t.Fatal(err)
	}
	if got := file(dst, "a"); got != "five" {
		t.Fatalf("the volume after a refresh without snapshots holds %q", got)
	}

	// Deleting the kept snapshot drops what was kept: no parent is left.
	if err := dst.DeleteSnapshot(c1, "s1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.ReceivedBase(c1); got != "" {
		t.Fatalf("a deleted snapshot is still kept as received: %q", got)
	}
	err = dst.RefreshStreams(ctx, c1, streams(storage.VolumeStream{R: send("", "s1")}), noFix)
	if err == nil || !strings.Contains(err.Error(), "received base") {
		t.Fatalf("a refresh without a received base: %v", err)
	}
	if err := dst.DeleteVolume(c1); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(mnt, "target", "containers-received")); len(entries) != 0 {
		t.Fatalf("a deleted volume left its received base: %v", entries)
	}
}
