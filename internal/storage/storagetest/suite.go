// Package storagetest is the conformance suite every storage driver
// passes. It drives a driver through its interface only: where a case needs
// a crash's leftovers, the driver's own test makes them (Crashes), since
// only the driver knows its steps and its layout on disk.
package storagetest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
)

// Subject is a driver under test.
type Subject struct {
	// New makes a fresh, empty pool of the driver.
	New     func(t *testing.T) storage.Driver
	Crashes Crashes
}

// Crashes leave a pool's volumes as a crash at one of the driver's steps
// would.
type Crashes interface {
	// RestoreMovedAside: a restore was prepared and the swap began (the
	// volume is out of its place), but the prepared copy is not in yet.
	RestoreMovedAside(d storage.Driver, v storage.Volume) error
	// HalfMade: a create of v was cut short, its volume half made.
	HalfMade(d storage.Driver, v storage.Volume) error
	// RenameMovedVolume: a rename moved the volume to newName and did
	// not move its snapshots yet.
	RenameMovedVolume(d storage.Driver, v storage.Volume, newName string) error
}

// vol is a container volume of the default project in the pool under test.
func vol(name string) storage.Volume {
	return storage.InstanceVolume("test", storage.DefaultProject, "container", name)
}

// Run drives fresh pools of the driver through every case.
func Run(t *testing.T, s Subject) {
	t.Run("Basics", func(t *testing.T) { runBasics(t, s) })
	t.Run("Projects", func(t *testing.T) { runProjects(t, s) })
	t.Run("Snapshots", func(t *testing.T) { runSnapshots(t, s) })
	t.Run("CrashPoints", func(t *testing.T) { runCrashPoints(t, s) })
	t.Run("Lifecycle", func(t *testing.T) { runLifecycle(t, s) })
	t.Run("Streams", func(t *testing.T) { runStreams(t, s) })
}

// runBasics covers image and instance volumes.
func runBasics(t *testing.T, s Subject) {
	t.Run("ImageThenInstanceShifted", func(t *testing.T) {
		d := s.New(t)
		fillImage(t, d, "abc")
		m := idmap.Map{HostUID: 100000, HostGID: 200000, Size: idmap.Size}
		if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "abc", &m); err != nil {
			t.Fatal(err)
		}
		st := statOf(t, filepath.Join(d.VolumePath(vol("c1")), "rootfs", "etc", "hostname"))
		if st.Uid != 100000+5 || st.Gid != 200000+7 {
			t.Fatalf("ownership %d:%d, want 100005:200007", st.Uid, st.Gid)
		}
		// The image itself stays unshifted for the next instance.
		st = statOf(t, filepath.Join(d.ImageVolumePath("abc"), "rootfs", "etc", "hostname"))
		if st.Uid != 5 {
			t.Fatalf("image was shifted: uid %d", st.Uid)
		}
	})
	t.Run("FailedUnpackLeavesNothing", func(t *testing.T) {
		d := s.New(t)
		err := d.CreateImageVolume("bad", func(dir string) error {
			_ = os.WriteFile(filepath.Join(dir, "half"), nil, 0o644)
			return os.ErrInvalid
		})
		if err == nil || d.HasImageVolume("bad") {
			t.Fatalf("failed unpack: err %v, volume kept %v", err, d.HasImageVolume("bad"))
		}
	})
	t.Run("DuplicateInstanceRefused", func(t *testing.T) {
		d := s.New(t)
		fillImage(t, d, "abc")
		if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "abc", nil); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "abc", nil); err == nil {
			t.Fatal("second volume with the same name was accepted")
		}
	})
	t.Run("RenameAndDelete", func(t *testing.T) {
		d := s.New(t)
		if err := d.CreateEmptyVolume(vol("a")); err != nil {
			t.Fatal(err)
		}
		if err := d.RenameVolume(vol("a"), "b"); err != nil {
			t.Fatal(err)
		}
		names, _ := d.VolumeNames(storage.TypeContainer)
		if len(names) != 1 || names[0] != "b" {
			t.Fatalf("names after rename: %v", names)
		}
		if err := d.DeleteVolume(vol("b")); err != nil {
			t.Fatal(err)
		}
		if err := d.DeleteVolume(vol("b")); err != nil {
			t.Fatalf("deleting a missing volume: %v", err)
		}
		if names, _ := d.VolumeNames(storage.TypeContainer); len(names) != 0 {
			t.Fatalf("left behind: %v", names)
		}
	})
}

// runProjects covers volumes' identity: one name in two projects is two
// volumes, and a driver refuses the volume types it does not report.
func runProjects(t *testing.T, s Subject) {
	t.Run("ProjectsKeepTheirOwnVolumes", func(t *testing.T) {
		d := s.New(t)
		other := storage.InstanceVolume("test", "p2", "container", "c1")
		for _, v := range []storage.Volume{vol("c1"), other} {
			if err := d.CreateEmptyVolume(v); err != nil {
				t.Fatal(err)
			}
		}
		if d.VolumePath(vol("c1")) == d.VolumePath(other) {
			t.Fatalf("two projects' c1 share %s", d.VolumePath(other))
		}
		names, _ := d.VolumeNames(storage.TypeContainer)
		sort.Strings(names)
		if len(names) != 2 || names[0] != "c1" || names[1] != "p2_c1" {
			t.Fatalf("volume names: %v", names)
		}
		kept := filepath.Join(d.VolumePath(other), "rootfs", "kept")
		if err := os.WriteFile(kept, []byte("y"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.DeleteVolume(vol("c1")); err != nil {
			t.Fatal(err)
		}
		if got := read(t, kept); got != "y" {
			t.Fatalf("the other project's volume after a delete: %q", got)
		}
	})
	t.Run("UnreportedVolumeTypesRefused", func(t *testing.T) {
		d := s.New(t)
		caps := d.Capabilities()
		for _, typ := range []storage.VolumeType{storage.TypeContainer, storage.TypeVM, storage.TypeCustom} {
			v := storage.Volume{Pool: "test", Project: storage.DefaultProject, Type: typ, Name: "v", Content: storage.ContentFilesystem}
			if !slices.Contains(caps.VolumeTypes, typ) && d.CreateEmptyVolume(v) == nil {
				t.Errorf("a %s volume was made, though the driver does not report the type", typ)
			}
		}
		if !caps.BlockVolumes {
			v := vol("blk")
			v.Content = storage.ContentBlock
			if d.CreateEmptyVolume(v) == nil {
				t.Error("a block volume was made, though the driver does not report block volumes")
			}
		}
	})
}

// runLifecycle covers what the volume of an instance outlives: its image's
// deletion, a change of id map, and its mount going away (a host reboot).
func runLifecycle(t *testing.T, s Subject) {
	t.Run("ImageDeletedWhileUsed", func(t *testing.T) {
		d := s.New(t)
		fillImage(t, d, "abc")
		m := idmap.Map{HostUID: 100000, HostGID: 100000, Size: idmap.Size}
		if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "abc", &m); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateSnapshot(context.Background(), vol("c1"), "s0"); err != nil {
			t.Fatal(err)
		}
		if err := d.DeleteImageVolume("abc"); err != nil {
			t.Fatal(err)
		}
		if d.HasImageVolume("abc") {
			t.Fatal("the deleted image still has a volume")
		}
		if err := d.CreateVolumeFromImage(context.Background(), vol("c2"), "abc", &m); err == nil {
			t.Fatal("an instance was made from a deleted image")
		}
		hostname := filepath.Join(d.VolumePath(vol("c1")), "rootfs", "etc", "hostname")
		if got := read(t, hostname); got != "x\n" {
			t.Fatalf("instance of a deleted image reads %q", got)
		}
		// The same image added again is usable at once.
		fillImage(t, d, "abc")
		if err := d.CreateVolumeFromImage(context.Background(), vol("c2"), "abc", &m); err != nil {
			t.Fatal(err)
		}
		for _, step := range []func() error{
			func() error { return d.DeleteImageVolume("abc") },
			func() error { return d.DeleteVolume(vol("c2")) },
			func() error { return d.DeleteSnapshot(vol("c1"), "s0") },
		} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
			if got := read(t, hostname); got != "x\n" {
				t.Fatalf("c1 reads %q", got)
			}
		}
		if err := d.DeleteVolume(vol("c1")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(d.ImageVolumePath("abc")); !os.IsNotExist(err) {
			t.Fatalf("the deleted image's tree outlived its last user: %v", err)
		}
	})
	t.Run("Remap", func(t *testing.T) {
		d := s.New(t)
		fillImage(t, d, "abc")
		from := &idmap.Map{HostUID: 100000, HostGID: 100000, Size: idmap.Size}
		to := &idmap.Map{HostUID: 300000, HostGID: 300000, Size: idmap.Size}
		if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "abc", from); err != nil {
			t.Fatal(err)
		}
		rootfs := filepath.Join(d.VolumePath(vol("c1")), "rootfs")
		if err := os.WriteFile(filepath.Join(rootfs, "etc", "new"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(rootfs, "etc", "new"), 100000+9, 100000+9); err != nil {
			t.Fatal(err)
		}
		for _, to := range []*idmap.Map{to, nil} {
			if err := d.RemapVolume(vol("c1"), from, to); err != nil {
				t.Fatal(err)
			}
			for file, want := range map[string][2]uint32{"hostname": {5, 7}, "new": {9, 9}} {
				st := statOf(t, filepath.Join(rootfs, "etc", file))
				if st.Uid != to.ShiftUID(want[0]) || st.Gid != to.ShiftGID(want[1]) {
					t.Fatalf("after remap to %v, %s is owned by %d:%d", to, file, st.Uid, st.Gid)
				}
			}
			from = to
		}
	})
	t.Run("RemountAfterReboot", func(t *testing.T) {
		d := s.New(t)
		fillImage(t, d, "abc")
		m := idmap.Map{HostUID: 100000, HostGID: 100000, Size: idmap.Size}
		if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "abc", &m); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(d.VolumePath(vol("c1")), "rootfs", "etc", "hostname")
		if err := os.WriteFile(file, []byte("changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for what, remount := range map[string]func() error{
			"repair": func() error { _, err := d.RepairVolume(vol("c1")); return err },
			"mount":  func() error { return d.MountVolume(vol("c1")) },
		} {
			if err := UnmountBelow(d.VolumePath(vol("c1"))); err != nil {
				t.Fatal(err)
			}
			if err := remount(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if err := remount(); err != nil {
				t.Fatalf("%s again: %v", what, err)
			}
			if got := read(t, file); got != "changed\n" {
				t.Fatalf("after %s the instance reads %q", what, got)
			}
			if st := statOf(t, file); st.Uid != 100005 {
				t.Fatalf("after %s the file is owned by %d", what, st.Uid)
			}
		}
	})
}

// runSnapshots covers snapshots, copies, restores and restore repair.
func runSnapshots(t *testing.T, s Subject) {
	t.Run("ViewSnapshot", func(t *testing.T) {
		d := s.New(t)
		file := changedSinceSnapshot(t, d)
		err := d.ViewSnapshot(context.Background(), vol("c1"), "snap0", func(dir string) error {
			if got := read(t, filepath.Join(dir, "rootfs", "etc", "hostname")); got != "x\n" {
				t.Fatalf("the snapshot's view holds %q", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, file); got != "changed\n" {
			t.Fatalf("the volume after viewing a snapshot: %q", got)
		}
		if err := d.ViewSnapshot(context.Background(), vol("c1"), "nope", func(string) error { return nil }); err == nil {
			t.Fatal("viewing a missing snapshot succeeded")
		}
		if left, err := d.RemoveLeftovers(); err != nil || len(left) != 0 {
			t.Fatalf("a view left %v (%v)", left, err)
		}
	})
	t.Run("SnapshotRestoreCopy", func(t *testing.T) {
		d := s.New(t)
		file := changedSinceSnapshot(t, d)
		if err := d.CopyVolume(context.Background(), vol("c1"), "snap0", vol("fromsnap"), false); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(d.VolumePath(vol("fromsnap")), "rootfs", "etc", "hostname")); got != "x\n" {
			t.Fatalf("copy from snapshot holds %q", got)
		}
		if err := d.CopyVolume(context.Background(), vol("c1"), "", vol("copy"), true); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(d.VolumePath(vol("copy")), "rootfs", "etc", "hostname")); got != "changed\n" {
			t.Fatalf("copy holds %q", got)
		}
		if names, _ := d.SnapshotNames(vol("copy")); len(names) != 1 {
			t.Fatalf("copy with snapshots has %v", names)
		}
		if names, _ := d.SnapshotNames(vol("fromsnap")); len(names) != 0 {
			t.Fatalf("copy without snapshots has %v", names)
		}
		if err := d.PrepareRestore(context.Background(), vol("c1"), "snap0"); err != nil {
			t.Fatal(err)
		}
		if got := read(t, file); got != "changed\n" {
			t.Fatalf("a prepared restore changed the volume: %q", got)
		}
		if err := d.FinishRestore(vol("c1")); err != nil {
			t.Fatal(err)
		}
		if got := read(t, file); got != "x\n" {
			t.Fatalf("after restore: %q", got)
		}
		if err := d.RenameSnapshot(vol("c1"), "snap0", "first"); err != nil {
			t.Fatal(err)
		}
		if err := d.RenameVolume(vol("c1"), "c2"); err != nil {
			t.Fatal(err)
		}
		if names, _ := d.SnapshotNames(vol("c2")); len(names) != 1 || names[0] != "first" {
			t.Fatalf("snapshots after renames: %v", names)
		}
		if err := d.DeleteVolume(vol("c2")); err != nil {
			t.Fatal(err)
		}
		if names, _ := d.SnapshotNames(vol("c2")); len(names) != 0 {
			t.Fatalf("snapshots left after delete: %v", names)
		}
	})
	t.Run("RepairInterruptedRestore", func(t *testing.T) {
		d := s.New(t)
		file := preparedRestore(t, d)
		if err := s.Crashes.RestoreMovedAside(d, vol("c1")); err != nil {
			t.Fatal(err)
		}
		// Without an intent to finish it, repair brings the volume back
		// as it was before the restore.
		what, err := d.RepairVolume(vol("c1"))
		if err != nil || what == "" {
			t.Fatalf("repair: %q %v", what, err)
		}
		if got := read(t, file); got != "changed\n" {
			t.Fatalf("after repairing an interrupted restore: %q", got)
		}
		if what, _ := d.RepairVolume(vol("c1")); what != "" {
			t.Fatalf("second repair did %q", what)
		}
		if names, _ := d.VolumeNames(storage.TypeContainer); len(names) != 1 {
			t.Fatalf("volumes after repair: %v", names)
		}
	})
}

// runCrashPoints covers the steps start-up takes after a crash in the
// middle of a restore or a rename.
func runCrashPoints(t *testing.T, s Subject) {
	// Each state a crash can leave a committed restore in: FinishRestore
	// ends with the snapshot's files in the volume and nothing beside it.
	for _, point := range []string{"prepared", "volume moved aside", "swapped"} {
		t.Run("FinishRestoreWhen"+strings.ReplaceAll(point, " ", ""), func(t *testing.T) {
			d := s.New(t)
			file := preparedRestore(t, d)
			switch point {
			case "volume moved aside":
				if err := s.Crashes.RestoreMovedAside(d, vol("c1")); err != nil {
					t.Fatal(err)
				}
			case "swapped":
				if err := d.FinishRestore(vol("c1")); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.FinishRestore(vol("c1")); err != nil {
				t.Fatal(err)
			}
			if got := read(t, file); got != "x\n" {
				t.Fatalf("after finishing from %q: %q", point, got)
			}
			if names, _ := d.VolumeNames(storage.TypeContainer); len(names) != 1 || names[0] != "c1" {
				t.Fatalf("volumes after finishing from %q: %v", point, names)
			}
		})
	}
	// A cancelled operation's copy stops and leaves nothing: no new
	// volume, snapshot or prepared restore, and the source as it was.
	t.Run("CancelledCopiesLeaveNothing", func(t *testing.T) {
		d := s.New(t)
		file := changedSinceSnapshot(t, d)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := d.CopyVolume(ctx, vol("c1"), "", vol("c2"), true); err == nil {
			t.Fatal("a copy under a cancelled context succeeded")
		}
		if err := d.CreateSnapshot(ctx, vol("c1"), "snap1"); err == nil {
			t.Fatal("a snapshot under a cancelled context succeeded")
		}
		if err := d.PrepareRestore(ctx, vol("c1"), "snap0"); err == nil {
			t.Fatal("a restore under a cancelled context was prepared")
		}
		if names, _ := d.VolumeNames(storage.TypeContainer); len(names) != 1 || names[0] != "c1" {
			t.Fatalf("volumes after cancelled copies: %v", names)
		}
		if names, _ := d.SnapshotNames(vol("c1")); len(names) != 1 {
			t.Fatalf("snapshots after a cancelled one: %v", names)
		}
		if got := read(t, file); got != "changed\n" {
			t.Fatalf("the source after cancelled copies: %q", got)
		}
	})
	t.Run("CancelRestoreLeavesTheVolume", func(t *testing.T) {
		d := s.New(t)
		file := preparedRestore(t, d)
		if err := d.CancelRestore(vol("c1")); err != nil {
			t.Fatal(err)
		}
		if got := read(t, file); got != "changed\n" {
			t.Fatalf("after a cancelled restore: %q", got)
		}
		if names, _ := d.VolumeNames(storage.TypeContainer); len(names) != 1 {
			t.Fatalf("volumes after a cancelled restore: %v", names)
		}
	})
	// What interrupted changes left goes, and only that.
	t.Run("RemoveLeftovers", func(t *testing.T) {
		d := s.New(t)
		file := preparedRestore(t, d) // a restore prepared, never committed
		if err := s.Crashes.HalfMade(d, vol("c2")); err != nil {
			t.Fatal(err)
		}
		removed, err := d.RemoveLeftovers()
		if err != nil || len(removed) < 2 {
			t.Fatalf("removed %v, %v: want the half-made volume and the prepared restore", removed, err)
		}
		if names, _ := d.VolumeNames(storage.TypeContainer); len(names) != 1 || names[0] != "c1" {
			t.Fatalf("volumes after removing leftovers: %v", names)
		}
		if got := read(t, file); got != "changed\n" {
			t.Fatalf("the volume after removing leftovers: %q", got)
		}
		if again, _ := d.RemoveLeftovers(); len(again) != 0 {
			t.Fatalf("a second pass removed %v", again)
		}
		// The snapshot restores as before.
		if err := d.PrepareRestore(context.Background(), vol("c1"), "snap0"); err != nil {
			t.Fatal(err)
		}
		if err := d.FinishRestore(vol("c1")); err != nil {
			t.Fatal(err)
		}
		if got := read(t, file); got != "x\n" {
			t.Fatalf("after restoring: %q", got)
		}
	})
	// A rename cut short after the volume moved but before its snapshots
	// did: UndoRename puts both back under the old name.
	t.Run("UndoRename", func(t *testing.T) {
		d := s.New(t)
		fillImage(t, d, "abc")
		if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "abc", nil); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateSnapshot(context.Background(), vol("c1"), "snap0"); err != nil {
			t.Fatal(err)
		}
		if err := s.Crashes.RenameMovedVolume(d, vol("c1"), "c2"); err != nil {
			t.Fatal(err)
		}
		if err := d.UndoRename(vol("c1"), "c2"); err != nil {
			t.Fatal(err)
		}
		if err := d.MountVolume(vol("c1")); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(d.VolumePath(vol("c1")), "rootfs", "etc", "hostname")); got != "x\n" {
			t.Fatalf("after undoing a rename: %q", got)
		}
		if names, _ := d.SnapshotNames(vol("c1")); len(names) != 1 {
			t.Fatalf("snapshots after undoing a rename: %v", names)
		}
		if names, _ := d.VolumeNames(storage.TypeContainer); len(names) != 1 || names[0] != "c1" {
			t.Fatalf("volumes after undoing a rename: %v", names)
		}
	})
}

// preparedRestore is changedSinceSnapshot with a restore of snap0 prepared.
func preparedRestore(t *testing.T, d storage.Driver) string {
	t.Helper()
	file := changedSinceSnapshot(t, d)
	if err := d.PrepareRestore(context.Background(), vol("c1"), "snap0"); err != nil {
		t.Fatal(err)
	}
	return file
}

// changedSinceSnapshot makes instance c1 with snapshot snap0 (its hostname
// file "x"), then changes the file to "changed"; it returns the file's path.
func changedSinceSnapshot(t *testing.T, d storage.Driver) string {
	t.Helper()
	fillImage(t, d, "abc")
	if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "abc", nil); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(d.VolumePath(vol("c1")), "rootfs", "etc", "hostname")
	if err := d.CreateSnapshot(context.Background(), vol("c1"), "snap0"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func fillImage(t *testing.T, d storage.Driver, fp string) {
	t.Helper()
	err := d.CreateImageVolume(fp, func(dir string) error {
		etc := filepath.Join(dir, "rootfs", "etc")
		if err := os.MkdirAll(etc, 0o755); err != nil {
			return err
		}
		f := filepath.Join(etc, "hostname")
		if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
			return err
		}
		return os.Lchown(f, 5, 7)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func statOf(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}
