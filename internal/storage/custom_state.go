package storage

import "github.com/lodge-project/lodge/internal/limits"

// CustomVolumeUsage is what custom volume name holds, where its pool's
// driver can tell (ok false elsewhere: dir without project quotas, as
// LXD's), and its size limit in bytes (-1: none).
func (p *Pools) CustomVolumeUsage(pool, proj, name string) (used, total int64, ok bool, err error) {
	defer p.Hold()()
	rec, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return 0, 0, false, err
	}
	d, err := p.Get(pool)
	if err != nil {
		return 0, 0, false, err
	}
	used, ok = VolumeUsage(d, rec.Volume())
	total = -1
	if size := rec.Config["size"]; size != "" {
		if n, err := limits.ParseSize(size); err == nil {
			total = n
		}
	}
	return used, total, ok, nil
}
