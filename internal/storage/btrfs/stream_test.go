package btrfs_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/btrfs"
)

// streams hands out VolumeStreams in turn, as an import reads them.
func streams(s ...storage.VolumeStream) func() (storage.VolumeStream, error) {
	return func() (storage.VolumeStream, error) {
		if len(s) == 0 {
			return storage.VolumeStream{}, io.EOF
		}
		next := s[0]
		s = s[1:]
		return next, nil
	}
}

func noFix(string, string) error { return nil }

// A backup's stream may not reach another volume on the filesystem: one
// sent against another instance's snapshot is refused, and so is the
// import, whole. A backup whose streams hold their own parents imports,
// though a copy of its volume sent to another pool of the filesystem
// came from the same snapshots.
func TestStreamsReachNoOtherVolume(t *testing.T) {
	mnt := scratch(t)
	d, err := btrfs.New(filepath.Join(mnt, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := btrfs.New(filepath.Join(mnt, "other"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.CreateEmptyVolume(vol("victim")); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(d.VolumePath(vol("victim")), "rootfs", "secret")
	for _, snap := range []string{"s1", "s2"} {
		if err := os.WriteFile(secret, []byte("secret "+snap), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateSnapshot(ctx, vol("victim"), snap); err != nil {
			t.Fatal(err)
		}
	}
	send := func(snap, parent string) *bytes.Buffer {
		var b bytes.Buffer
		if _, err := d.WriteStream(ctx, vol("victim"), storage.StreamSpec{Snapshot: snap, Parent: parent}, &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	// The thief's backup holds only the changes since the victim's s1.
	err = d.ReceiveStreams(ctx, vol("thief"), streams(storage.VolumeStream{R: send("s2", "s1")}), noFix)
	if err == nil || !strings.Contains(err.Error(), "parent subvolume that the backup does not hold") {
		t.Fatalf("a stream against another volume's snapshot: %v", err)
	}
	if _, err := os.Lstat(d.VolumePath(vol("thief"))); !os.IsNotExist(err) {
		t.Fatalf("the refused import left its volume: %v", err)
	}
	if left, _ := d.RemoveLeftovers(); len(left) != 0 {
		t.Fatalf("the refused import left %v", left)
	}

	// A copy on another pool of the filesystem keeps no received uuid, so
	// an honest backup's parents are found, and found alone.
	if err := d.SendVolume(ctx, vol("victim"), "", []string{"s1", "s2"}, other, vol("copy")); err != nil {
		t.Fatal(err)
	}
	err = d.ReceiveStreams(ctx, vol("restored"), streams(
		storage.VolumeStream{Snapshot: "s1", R: send("s1", "")},
		storage.VolumeStream{Snapshot: "s2", R: send("s2", "s1")},
		storage.VolumeStream{R: send("", "s2")}), noFix)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.VolumePath(vol("restored")), "rootfs", "secret")); string(b) != "secret s2" {
		t.Fatalf("the restored volume holds %q", b)
	}

	// A subvolume received outside lodged keeps the uuid its stream gave
	// it: while it does, receive could be led to it instead, so an import
	// whose streams name that uuid is refused.
	outside := filepath.Join(mnt, "outside")
	if err := os.Mkdir(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	recv := exec.Command("btrfs", "receive", "-q", outside)
	recv.Stdin = send("s1", "")
	if out, err := recv.CombinedOutput(); err != nil {
		t.Fatalf("btrfs receive: %v %s", err, out)
	}
	err = d.ReceiveStreams(ctx, vol("again"), streams(
		storage.VolumeStream{Snapshot: "s1", R: send("s1", "")},
		storage.VolumeStream{R: send("", "s1")}), noFix)
	if err == nil || !strings.Contains(err.Error(), "not unique") {
		t.Fatalf("an import whose parent's uuid is not unique: %v", err)
	}
}
