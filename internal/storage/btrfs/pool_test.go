package btrfs_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/btrfs"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

func vol(name string) storage.Volume {
	return storage.InstanceVolume("test", storage.DefaultProject, "container", name)
}

func image(t *testing.T, d storage.Driver, fp string) {
	t.Helper()
	err := d.CreateImageVolume(fp, func(dir string) error {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "rootfs", "etc", "hostname"), []byte("x\n"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every volume is a subvolume, snapshots are read-only, instances on one
// map share one shifted image, and the image's deletion takes it too.
func TestVolumesAreSubvolumes(t *testing.T) {
	d, err := btrfs.New(filepath.Join(scratch(t), "pool"))
	if err != nil {
		t.Fatal(err)
	}
	image(t, d, "abc")
	if !btrfs.IsSubvolume(d.ImageVolumePath("abc")) {
		t.Fatal("the image volume is not a subvolume")
	}
	if err := os.WriteFile(filepath.Join(d.ImageVolumePath("abc"), "x"), nil, 0o644); err == nil {
		t.Fatal("the image volume is writable")
	}
	m := idmap.Map{HostUID: 100000, HostGID: 100000, Size: idmap.Size}
	for _, n := range []string{"c1", "c2"} {
		if err := d.CreateVolumeFromImage(context.Background(), vol(n), "abc", &m); err != nil {
			t.Fatal(err)
		}
		if !btrfs.IsSubvolume(d.VolumePath(vol(n))) {
			t.Fatalf("%s's volume is not a subvolume", n)
		}
	}
	shifted, _ := filepath.Glob(d.ImageVolumePath("abc") + "@*")
	if len(shifted) != 1 {
		t.Fatalf("shifted images: %v, want one for the one map", shifted)
	}
	if names, _ := d.ImageVolumeNames(); len(names) != 1 || names[0] != "abc" {
		t.Fatalf("image volume names: %v", names)
	}
	if err := d.CreateSnapshot(context.Background(), vol("c1"), "s0"); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(filepath.Dir(filepath.Dir(d.VolumePath(vol("c1")))), "containers-snapshots", "c1", "s0")
	if err := os.WriteFile(filepath.Join(snap, "rootfs", "new"), nil, 0o644); err == nil {
		t.Fatal("a snapshot is writable")
	}
	// An image goes at once: instances are snapshots that do not need it.
	if err := d.DeleteImageVolume("abc"); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(d.ImageVolumePath("abc") + "*"); len(left) != 0 {
		t.Fatalf("left after deleting the image: %v", left)
	}
	if b, err := os.ReadFile(filepath.Join(d.VolumePath(vol("c2")), "rootfs", "etc", "hostname")); err != nil || string(b) != "x\n" {
		t.Fatalf("an instance after its image went: %q %v", b, err)
	}
}

// A subvolume an instance made inside its volume goes with the volume.
func TestNestedSubvolumesDeleted(t *testing.T) {
	d, err := btrfs.New(filepath.Join(scratch(t), "pool"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateEmptyVolume(vol("c1")); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(d.VolumePath(vol("c1")), "rootfs", "var", "lib", "machines")
	if err := os.MkdirAll(filepath.Dir(nested), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("btrfs", "subvolume", "create", nested).CombinedOutput(); err != nil {
		t.Fatalf("btrfs subvolume create: %v %s", err, out)
	}
	if err := d.DeleteVolume(vol("c1")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.VolumePath(vol("c1"))); !os.IsNotExist(err) {
		t.Fatalf("the volume is still there: %v", err)
	}
}

// A pool without a source is a loop file lodged makes, mounts, mounts
// again after a reboot, and removes with the pool.
func TestLoopFilePool(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	state := t.TempDir()
	spec := storage.PoolSpec{Name: "p", Root: filepath.Join(state, "storage-pools", "p"), Config: map[string]string{"size": "300MiB"}, DisksDir: filepath.Join(state, "disks")}
	t.Cleanup(func() { _ = storagetest.UnmountBelow(state) })
	typ := btrfs.Type()
	d, cfg, err := typ.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(state, "disks", "p.img")
	if cfg["source"] != img || cfg["size"] != "300MiB" {
		t.Fatalf("recorded config: %v", cfg)
	}
	if !storage.IsMountRoot(spec.Root) {
		t.Fatal("the pool is not mounted")
	}
	image(t, d, "abc")
	// A reboot: the mount is gone; opening the pool mounts it again.
	if out, err := exec.Command("umount", spec.Root).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	spec.Config = cfg
	d, err = typ.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasImageVolume("abc") {
		t.Fatal("the image is gone after mounting again")
	}
	// Opening a mounted pool leaves the mount as it is.
	if _, err := typ.Open(spec); err != nil {
		t.Fatal(err)
	}
	if err := d.(storage.Destroyer).Destroy(); err != nil {
		t.Fatal(err)
	}
	if storage.IsMountRoot(spec.Root) {
		t.Fatal("still mounted after Destroy")
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Fatalf("the loop file is left: %v", err)
	}
	// Too small a size is refused before anything is made.
	spec.Config = map[string]string{"size": "10MiB"}
	if _, _, err := typ.Create(context.Background(), spec); apierr.Status(err) != 400 {
		t.Fatalf("a 10MiB pool: %v", err)
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Fatalf("a refused pool left its loop file: %v", err)
	}
}

// A block device is formatted only when it holds nothing.
func TestDevicePool(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	state := t.TempDir()
	file := filepath.Join(state, "dev.img")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(512 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("losetup", "--find", "--show", file).Output()
	if err != nil {
		t.Skipf("no loop device: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		_ = storagetest.UnmountBelow(state)
		_ = exec.Command("losetup", "-d", dev).Run()
	})
	spec := storage.PoolSpec{Name: "p", Root: filepath.Join(state, "storage-pools", "p"), Config: map[string]string{"source": dev}, DisksDir: filepath.Join(state, "disks")}
	typ := btrfs.Type()
	d, cfg, err := typ.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["source"] != dev || !storage.IsMountRoot(spec.Root) {
		t.Fatalf("config %v, mounted %v", cfg, storage.IsMountRoot(spec.Root))
	}
	if err := d.(storage.Destroyer).Destroy(); err != nil {
		t.Fatal(err)
	}
	// Now it holds a btrfs filesystem: a second pool may not format it.
	_, _, err = typ.Create(context.Background(), spec)
	if apierr.Status(err) != 400 || !strings.Contains(err.Error(), "btrfs filesystem") {
		t.Fatalf("a device holding a filesystem: %v", err)
	}
}

// A directory source must be on btrfs.
func TestDirectorySourceOnBtrfsOnly(t *testing.T) {
	mnt := scratch(t)
	typ := btrfs.Type()
	spec := storage.PoolSpec{Name: "p", Root: filepath.Join(mnt, "pool"), Config: map[string]string{"source": filepath.Join(mnt, "pool")}}
	d, _, err := typ.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !btrfs.IsSubvolume(filepath.Join(mnt, "pool")) || d.Name() != "btrfs" {
		t.Fatal("a missing source directory was not made a subvolume")
	}
	other := t.TempDir() // tmpfs or ext4, not btrfs
	spec = storage.PoolSpec{Name: "q", Root: other, Config: map[string]string{"source": other}}
	if _, _, err := typ.Create(context.Background(), spec); apierr.Status(err) != 400 {
		t.Fatalf("a source off btrfs: %v", err)
	}
}

// A size is a quota group limit: writes past it fail, usage is counted,
// and lifting it lets them through.
func TestVolumeSize(t *testing.T) {
	d, err := btrfs.New(filepath.Join(scratch(t), "pool"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateEmptyVolume(vol("c1")); err != nil {
		t.Fatal(err)
	}
	if err := d.SetVolumeSize(vol("c1"), 0); err != nil {
		t.Fatalf("no limit before quotas are on: %v", err)
	}
	if err := d.SetVolumeSize(vol("c1"), 20<<20); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(d.VolumePath(vol("c1")), "rootfs", "big")
	if err := storagetest.WriteZeros(big, 40<<20); err == nil {
		t.Fatal("wrote 40MiB into a 20MiB volume")
	}
	_ = os.Remove(big)
	if err := storagetest.WriteZeros(big, 8<<20); err != nil {
		t.Fatalf("8MiB in a 20MiB volume: %v", err)
	}
	used, err := d.VolumeUsage(vol("c1"))
	if err != nil || used < 8<<20 || used > 12<<20 {
		t.Fatalf("usage %d (%v), want about 8MiB", used, err)
	}
	if err := d.SetVolumeSize(vol("c1"), 4<<20); err == nil {
		t.Fatal("a size below what the volume holds was set")
	}
	if err := d.SetVolumeSize(vol("c1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := storagetest.WriteZeros(big+"2", 40<<20); err != nil {
		t.Fatalf("after lifting the limit: %v", err)
	}
}

// Between two btrfs pools a copy is a send stream: the volume and its
// snapshots arrive whole, the snapshots read-only, and a failure leaves
// nothing on the target.
func TestSendBetweenPools(t *testing.T) {
	mnt := scratch(t)
	from, err := btrfs.New(filepath.Join(mnt, "one"))
	if err != nil {
		t.Fatal(err)
	}
	to, err := btrfs.New(filepath.Join(mnt, "two"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	image(t, from, "abc")
	if err := from.CreateVolumeFromImage(ctx, vol("c1"), "abc", nil); err != nil {
		t.Fatal(err)
	}
	state := func(d *btrfs.Driver, v storage.Volume) string {
		return filepath.Join(d.VolumePath(v), "rootfs", "etc", "state")
	}
	for i, content := range []string{"one\n", "two\n", "three\n"} {
		if err := os.WriteFile(state(from, vol("c1")), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if err := from.CreateSnapshot(ctx, vol("c1"), []string{"s0", "s1"}[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := storage.CopyAcross(ctx, from, vol("c1"), "", []string{"s0", "s1"}, to, vol("c2")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(state(to, vol("c2"))); string(b) != "three\n" {
		t.Fatalf("the sent volume holds %q", b)
	}
	if err := os.WriteFile(state(to, vol("c2")), []byte("mine\n"), 0o644); err != nil {
		t.Fatalf("the sent volume is not writable: %v", err)
	}
	for snap, want := range map[string]string{"s0": "one\n", "s1": "two\n"} {
		err := to.ViewSnapshot(ctx, vol("c2"), snap, func(dir string) error {
			if b, _ := os.ReadFile(filepath.Join(dir, "rootfs", "etc", "state")); string(b) != want {
				t.Fatalf("sent snapshot %s holds %q", snap, b)
			}
			if err := os.WriteFile(filepath.Join(dir, "rootfs", "x"), nil, 0o644); err == nil {
				t.Fatalf("sent snapshot %s is writable", snap)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(state(from, vol("c1"))); string(b) != "three\n" {
		t.Fatalf("the source after sending: %q", b)
	}
	// A missing snapshot: an error, and nothing left on the target.
	if err := storage.CopyAcross(ctx, from, vol("c1"), "", []string{"nope"}, to, vol("c3")); err == nil {
		t.Fatal("a send of a missing snapshot succeeded")
	}
	if names, _ := to.VolumeNames(storage.TypeContainer); len(names) != 1 {
		t.Fatalf("the target after a failed send: %v", names)
	}
	if left, _ := from.RemoveLeftovers(); len(left) != 0 {
		t.Fatalf("the source kept %v after sending", left)
	}
}
