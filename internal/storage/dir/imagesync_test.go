package dir_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage/dir"
)

func fillImage(content string) func(string) error {
	return func(d string) error {
		if err := os.MkdirAll(filepath.Join(d, "rootfs", "etc"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(d, "rootfs", "etc", "os-release"), []byte(content), 0o644)
	}
}

func marker(d *dir.Driver, fp string) string { return d.ImageVolumePath(fp) + ".unsynced" }

// writeMarker leaves fp's writeback marker as a stop would, naming boot.
func writeMarker(t *testing.T, d *dir.Driver, fp, boot string) {
	t.Helper()
	if err := os.WriteFile(marker(d, fp), []byte(boot+" 00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// layeredOnImage is a pool with image "img", written back, and volume
// c1 layered on it.
func layeredOnImage(t *testing.T) *dir.Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts)")
	}
	d := newPool(t, dir.New, "")
	if err := d.CreateImageVolume("img", fillImage("debian")); err != nil {
		t.Fatal(err)
	}
	m := &idmap.Map{HostUID: 100000, HostGID: 100000, Size: idmap.Size}
	if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "img", m); err != nil {
		t.Fatal(err)
	}
	d.WaitImageWriteback()
	return d
}

// An image volume is written back after it is made: until then its marker
// names the boot, and no listing takes the marker for a volume.
func TestImageVolumeWrittenBackLater(t *testing.T) {
	d := newPool(t, dir.New, "")
	if err := d.CreateImageVolume("img", fillImage("debian")); err != nil {
		t.Fatal(err)
	}
	names, err := d.ImageVolumeNames()
	if err != nil || len(names) != 1 || names[0] != "img" {
		t.Fatalf("image volumes %v (%v), want [img]", names, err)
	}
	d.WaitImageWriteback()
	if _, err := os.Stat(marker(d, "img")); !os.IsNotExist(err) {
		t.Fatalf("the marker outlived the writeback: %v", err)
	}
	// A deleted volume takes its marker along.
	writeMarker(t, d, "img", "x")
	if err := d.DeleteImageVolume("img"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker(d, "img")); !os.IsNotExist(err) {
		t.Fatalf("the marker outlived its volume: %v", err)
	}
}

// After a host crash (a marker from another boot), start-up unpacks the
// volume again in place: a layered volume on it sees whole files again,
// and nothing of the swap is left. A marker of this boot is only written
// back; a marker whose image is gone goes with its volume's repair.
func TestImageVolumeRecoveredAfterHostCrash(t *testing.T) {
	d := layeredOnImage(t)
	// What a crash before the writeback may leave: an empty file.
	lost := filepath.Join(d.ImageVolumePath("img"), "rootfs", "etc", "os-release")
	if err := os.Truncate(lost, 0); err != nil {
		t.Fatal(err)
	}
	writeMarker(t, d, "img", "another-boot")
	if err := d.UnmountVolume(vol("c1")); err != nil {
		t.Fatal(err)
	}
	asked := map[string]bool{}
	unpackFor := func(fp string) (func(string) error, bool) {
		asked[fp] = true
		return fillImage("debian"), fp == "img"
	}
	if err := d.RecoverImageVolumes(unpackFor); err != nil {
		t.Fatal(err)
	}
	if !asked["img"] {
		t.Fatal("the volume of another boot was not unpacked again")
	}
	if got, _ := os.ReadFile(lost); string(got) != "debian" {
		t.Fatalf("after recovery the image holds %q", got)
	}
	for _, p := range []string{marker(d, "img"), d.ImageVolumePath("img") + ".partial"} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Fatalf("%s is left: %v", p, err)
		}
	}
	if err := d.MountVolume(vol("c1")); err != nil {
		t.Fatal(err)
	}
	seen := filepath.Join(d.VolumePath(vol("c1")), "rootfs", "etc", "os-release")
	if got, _ := os.ReadFile(seen); string(got) != "debian" {
		t.Fatalf("the layered volume sees %q", got)
	}

	// A marker of another boot while a layered volume is mounted: the
	// host has not gone down since, so the tree is only written back
	// (a swap would pull it from under the mount).
	writeMarker(t, d, "img", "another-boot")
	asked = map[string]bool{}
	if err := d.RecoverImageVolumes(unpackFor); err != nil {
		t.Fatal(err)
	}
	d.WaitImageWriteback()
	if asked["img"] {
		t.Fatal("an image volume under a mounted overlay was unpacked again")
	}
	if _, err := os.Stat(marker(d, "img")); !os.IsNotExist(err) {
		t.Fatalf("the marker outlived the writeback: %v", err)
	}

	// A marker of this boot: written back, not unpacked.
	boot, err := durable.BootID()
	if err != nil {
		t.Fatal(err)
	}
	writeMarker(t, d, "img", boot)
	asked = map[string]bool{}
	if err := d.RecoverImageVolumes(unpackFor); err != nil {
		t.Fatal(err)
	}
	d.WaitImageWriteback()
	if asked["img"] {
		t.Fatal("a volume of this boot was unpacked again")
	}
	if _, err := os.Stat(marker(d, "img")); !os.IsNotExist(err) {
		t.Fatalf("the marker outlived the writeback: %v", err)
	}

	// An image gone while its volume was unsynced: the volume is left to
	// start-up repair (no record), and is not unpacked.
	if err := d.CreateImageVolume("gone", fillImage("old")); err != nil {
		t.Fatal(err)
	}
	d.WaitImageWriteback()
	writeMarker(t, d, "gone", "another-boot")
	if err := d.RecoverImageVolumes(unpackFor); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.ImageVolumePath("gone")); err != nil {
		t.Fatalf("the volume without an image went before its repair: %v", err)
	}
}

// Retiring a volume still in use (its image deleted) writes it back
// first: its image file goes, so start-up could not unpack it again.
func TestRetiredImageVolumeWrittenBack(t *testing.T) {
	d := layeredOnImage(t)
	writeMarker(t, d, "img", "x")
	if err := d.DeleteImageVolume("img"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker(d, "img")); !os.IsNotExist(err) {
		t.Fatalf("a retired volume kept its marker: %v", err)
	}
	if _, err := os.Stat(d.ImageVolumePath("img")); err != nil {
		t.Fatalf("the retired volume is gone: %v", err)
	}
}
