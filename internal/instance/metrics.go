package instance

import (
	"context"
	"path/filepath"
	goruntime "runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/metrics"
	"github.com/lodge-project/lodge/internal/procfs"
	"github.com/lodge-project/lodge/internal/project"
)

// blockNames names block devices for every scrape (sysfs read once each).
var blockNames metrics.BlockNames

// Metrics gathers the metrics of the running instances of project proj
// (every project when proj is ""), as GET /1.0/metrics serves them. The
// instances are read a few at a time, as many as there are CPUs: each
// read is a handful of cgroup files and a netlink dump in the instance's
// network namespace.
func (s *Service) Metrics(ctx context.Context, proj string) (*metrics.Set, error) {
	all, err := s.expandedAll()
	if err != nil {
		return nil, err
	}
	mounts, _ := procfs.Mounts()
	var running []Expanded
	for _, e := range all {
		if proj != "" && project.Name(e.Project) != proj {
			continue
		}
		if _, pid := s.runtimeOf(e.Type).Status(e.key()); pid != 0 {
			running = append(running, e)
		}
	}
	out := &metrics.Set{}
	var mu sync.Mutex
	work := make(chan Expanded)
	var wg sync.WaitGroup
	for range min(goruntime.NumCPU(), len(running)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				in, ok := s.instanceMetrics(e, mounts)
				if !ok {
					continue // it stopped meanwhile
				}
				var one metrics.Set
				one.AddInstance(in)
				mu.Lock()
				out.Merge(&one)
				mu.Unlock()
			}
		}()
	}
	for _, e := range running {
		if ctx.Err() != nil {
			break
		}
		work <- e
	}
	close(work)
	wg.Wait()
	return out, ctx.Err()
}

// instanceMetrics reads one running instance's counters and disks.
func (s *Service) instanceMetrics(e Expanded, mounts procfs.MountTable) (metrics.Instance, bool) {
	u, err := s.runtimeOf(e.Type).Usage(e.key())
	if err != nil {
		return metrics.Instance{}, false
	}
	total := uint64(s.host.MemoryBytes)
	if u.MemoryLimit > 0 && (total == 0 || uint64(u.MemoryLimit) < total) {
		total = uint64(u.MemoryLimit)
	}
	return metrics.Instance{
		Project: project.Name(e.Project), Name: e.Name, Type: e.Type,
		Usage: u, MemoryTotal: total, Filesystems: s.filesystems(e, mounts),
		BlockName: blockNames.Name,
	}, true
}

// filesystems is the space on each of an instance's disks that has a
// path inside it: its root volume, custom volumes, host directories. Each
// is named by the host filesystem that holds it (device and type from the
// mount table), as LXD labels them.
func (s *Service) filesystems(e Expanded, mounts procfs.MountTable) []metrics.Filesystem {
	var out []metrics.Filesystem
	for _, d := range e.Devices {
		if d["type"] != "disk" || d["path"] == "" {
			continue
		}
		var at string
		switch {
		case d["path"] == "/":
			pool, vol, err := s.poolOf(e)
			if err != nil {
				continue
			}
			at = filepath.Join(pool.VolumePath(vol), "rootfs")
		case d["pool"] != "":
			p, err := s.pools.CustomVolumePath(d["pool"], project.Name(e.Project), d["source"])
			if err != nil {
				continue
			}
			at = p
		case filepath.IsAbs(d["source"]):
			at = d["source"]
		default:
			continue
		}
		var st unix.Statfs_t
		if unix.Statfs(at, &st) != nil {
			continue
		}
		fs := metrics.Filesystem{Mountpoint: d["path"],
			Size: st.Blocks * uint64(st.Bsize), Avail: st.Bavail * uint64(st.Bsize), Free: st.Bfree * uint64(st.Bsize)}
		if m, ok := mounts.Containing(filepath.Clean(at)); ok {
			fs.Device, fs.FSType = m.Source, m.FSType
		}
		out = append(out, fs)
	}
	return out
}
