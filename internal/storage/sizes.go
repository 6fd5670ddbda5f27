package storage

import (
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/limits"
)

// Sizer is a driver that enforces volume sizes (Capabilities.Quotas).
type Sizer interface {
	// SetVolumeSize limits what v may hold to bytes; 0 lifts the limit.
	SetVolumeSize(v Volume, bytes int64) error
	// VolumeUsage is how many bytes v holds.
	VolumeUsage(v Volume) (int64, error)
}

// ParseVolumeSize reads a volume's size key ("" is no limit) and checks
// that pool driver d can enforce it.
func ParseVolumeSize(d Driver, pool, size string) (int64, error) {
	if size == "" {
		return 0, nil
	}
	n, err := limits.ParseSize(size)
	if err != nil {
		return 0, apierr.BadRequest("size: %v", err)
	}
	if n < 16<<20 {
		return 0, apierr.BadRequest("size %s is too small: a volume needs at least 16MiB", size)
	}
	if _, ok := d.(Sizer); !ok || !d.Capabilities().Quotas {
		return 0, apierr.BadRequest("storage pool %q (driver %s) does not enforce sizes here: drop size, or use a pool that does (btrfs; or dir on XFS or ext4 with project quotas, where the kernel has quota support)", pool, d.Name())
	}
	return n, nil
}

// SetVolumeSize applies a volume's size key to v ("" lifts a limit a
// driver with quotas holds, and is nothing to one without).
func SetVolumeSize(d Driver, v Volume, size string) error {
	n, err := ParseVolumeSize(d, v.Pool, size)
	if err != nil {
		return err
	}
	s, ok := d.(Sizer)
	if !ok || !d.Capabilities().Quotas {
		return nil
	}
	return s.SetVolumeSize(v, n)
}

// VolumeUsage is what v holds, when its driver can tell (ok false when
// it cannot).
func VolumeUsage(d Driver, v Volume) (int64, bool) {
	s, ok := d.(Sizer)
	if !ok || !d.Capabilities().Quotas {
		return 0, false
	}
	n, err := s.VolumeUsage(v)
	return n, err == nil
}
