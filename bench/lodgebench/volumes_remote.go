package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// benchVolumeCopy copies a custom volume holding a Debian tree from the
// second host of each kind (remote "src") to the first, as lxc storage
// volume copy does (the target pulls; rsync on both), then refreshes the
// copy after one file changed on the source.
func benchVolumeCopy(measure measureFunc, n int, source map[*daemon]*daemon, debian string) {
	for _, src := range source {
		src.mustLXC("storage", "volume", "create", "default", "vol")
		// The volume's folder, as each lays its pools out.
		dir := filepath.Join(src.dir, "storage-pools", "default", "custom", "vol")
		if src.name == "LXD" {
			dir = filepath.Join(src.dir, "storage-pools", "default", "custom", "default_vol")
		}
		if out, err := exec.Command("tar", "-xzf", debian, "-C", dir, "--numeric-owner").CombinedOutput(); err != nil {
			fatal(fmt.Errorf("fill the volume: %v: %s", err, out))
		}
	}
	measure("lxc storage volume copy of a Debian tree between two hosts", "", n, func(d *daemon, i int) time.Duration {
		t0 := time.Now()
		d.mustLXC("storage", "volume", "copy", "src:default/vol", fmt.Sprintf("local:default/vol%d", i))
		return time.Since(t0)
	})
	measure("lxc storage volume copy --refresh of that volume after one file changed", "", n, func(d *daemon, i int) time.Duration {
		src := source[d]
		dir := filepath.Join(src.dir, "storage-pools", "default", "custom", "vol")
		if src.name == "LXD" {
			dir = filepath.Join(src.dir, "storage-pools", "default", "custom", "default_vol")
		}
		// Past the second of the copy: LXD's rsync compares seconds.
		time.Sleep(1100 * time.Millisecond)
		if err := os.WriteFile(filepath.Join(dir, "changed"), []byte(fmt.Sprintf("change %d %d\n", i, time.Now().UnixNano())), 0o644); err != nil {
			fatal(err)
		}
		t0 := time.Now()
		d.mustLXC("storage", "volume", "copy", "src:default/vol", fmt.Sprintf("local:default/vol%d", i), "--refresh")
		return time.Since(t0)
	})
	for dst, src := range source {
		for i := 0; i < n; i++ {
			_, _ = dst.lxc("storage", "volume", "delete", "default", fmt.Sprintf("vol%d", i))
		}
		_, _ = src.lxc("storage", "volume", "delete", "default", "vol")
	}
}
