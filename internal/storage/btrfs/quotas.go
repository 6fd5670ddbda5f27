package btrfs

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/storage"
)

// Sizes are btrfs quota groups: each subvolume has one (0/<id>), and a
// volume's size limits what it references, its blocks shared with the
// image and its snapshots included, as LXD does. Quotas are enabled on the
// pool's filesystem with the first size, since they slow snapshot
// deletion down on filesystems that never use them.

// SetVolumeSize limits v's subvolume to n bytes (0: no limit).
func (d *Driver) SetVolumeSize(v storage.Volume, n int64) error {
	path := d.VolumePath(v)
	if !isSubvolume(path) {
		return fmt.Errorf("volume %q: %s is not a subvolume", v.Name, path)
	}
	limit := "none"
	if n > 0 {
		if err := d.enableQuotas(); err != nil {
			return err
		}
		limit = strconv.FormatInt(n, 10)
		if used, err := d.VolumeUsage(v); err == nil && used > n {
			return apierr.BadRequest("volume %q holds %d bytes, more than the size %d: free space first", v.Name, used, n)
		}
	} else if !d.quotasEnabled() {
		return nil
	}
	return btrfsCmd("qgroup", "limit", limit, path)
}

// VolumeUsage is what v's subvolume references, in bytes.
func (d *Driver) VolumeUsage(v storage.Volume) (int64, error) {
	path := d.VolumePath(v)
	if !d.quotasEnabled() {
		return 0, fmt.Errorf("quotas are not enabled on the pool")
	}
	id, err := subvolumeID(path)
	if err != nil {
		return 0, err
	}
	// Quota groups are counted when a transaction commits.
	if err := durable.Filesystem(path); err != nil {
		return 0, err
	}
	out, err := exec.Command("btrfs", "qgroup", "show", "-r", "--raw", "-f", path).Output()
	if err != nil {
		return 0, fmt.Errorf("btrfs qgroup show %s: %w", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "0/"+id {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no quota group for %s", path)
}

// enableQuotas turns quotas on for the pool's filesystem and waits for
// the scan that counts what is already there.
func (d *Driver) enableQuotas() error {
	d.quotaMu.Lock()
	defer d.quotaMu.Unlock()
	if d.quotasEnabled() {
		return nil
	}
	if err := btrfsCmd("quota", "enable", d.Root); err != nil {
		return err
	}
	return btrfsCmd("quota", "rescan", "-w", d.Root)
}

// quotasEnabled says whether the filesystem counts quota groups.
func (d *Driver) quotasEnabled() bool {
	return exec.Command("btrfs", "qgroup", "show", d.Root).Run() == nil
}

// subvolumeID is the id of the subvolume at path.
func subvolumeID(path string) (string, error) {
	out, err := exec.Command("btrfs", "inspect-internal", "rootid", path).Output()
	if err != nil {
		return "", fmt.Errorf("btrfs inspect-internal rootid %s: %w", path, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func btrfsCmd(args ...string) error {
	out, err := exec.Command("btrfs", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("btrfs %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
