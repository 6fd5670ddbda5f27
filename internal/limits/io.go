package limits

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseIORate reads a disk limit: bytes per second ("10MB", "1GiB") or
// operations per second ("100iops").
func ParseIORate(v string) (rate uint64, iops bool, err error) {
	if n, ok := strings.CutSuffix(v, "iops"); ok {
		r, err := strconv.ParseUint(n, 10, 64)
		if err != nil || r == 0 {
			return 0, false, fmt.Errorf("%q: want a positive number of operations per second, such as 100iops", v)
		}
		return r, true, nil
	}
	b, err := ParseSize(v)
	if err != nil || b <= 0 {
		return 0, false, fmt.Errorf("%q: want bytes per second (10MB, 1GiB) or operations per second (100iops)", v)
	}
	return uint64(b), false, nil
}

// BlockDevice finds the whole disk that holds path, for I/O throttling
// (the kernel throttles disks, not partitions).
func BlockDevice(path string) (major, minor int64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, err
	}
	major, minor = int64(unix.Major(st.Dev)), int64(unix.Minor(st.Dev))
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	if _, err := os.Stat(sys); err != nil {
		return 0, 0, fmt.Errorf("%s is not on a block device (%d:%d), so its I/O cannot be limited", path, major, minor)
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		real, err := filepath.EvalSymlinks(sys)
		if err != nil {
			return 0, 0, err
		}
		data, err := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
		if err != nil {
			return 0, 0, err
		}
		if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &major, &minor); err != nil {
			return 0, 0, err
		}
	}
	return major, minor, nil
}

// AddThrottle adds a disk's read/write limits on device major:minor.
func AddThrottle(r *Resources, major, minor int64, read, write string) error {
	for _, x := range []struct {
		v     string
		bps   *[]Throttle
		iops  *[]Throttle
		label string
	}{{read, &r.ReadBps, &r.ReadIOPS, "limits.read"},
		{write, &r.WriteBps, &r.WriteIOPS, "limits.write"}} {
		if x.v == "" {
			continue
		}
		rate, iops, err := ParseIORate(x.v)
		if err != nil {
			return fmt.Errorf("%s: %w", x.label, err)
		}
		dev := Throttle{Major: major, Minor: minor, Rate: rate}
		if iops {
			*x.iops = append(*x.iops, dev)
		} else {
			*x.bps = append(*x.bps, dev)
		}
	}
	return nil
}

// ClearDropped adds zero-rate entries to next for every device that prev
// throttled and next does not, so applying next lifts those limits (the
// kernel removes a throttle rule when its rate is set to 0).
func ClearDropped(next, prev *Resources) {
	if prev == nil {
		return
	}
	for _, list := range []struct{ next, prev *[]Throttle }{
		{&next.ReadBps, &prev.ReadBps},
		{&next.WriteBps, &prev.WriteBps},
		{&next.ReadIOPS, &prev.ReadIOPS},
		{&next.WriteIOPS, &prev.WriteIOPS},
	} {
		for _, old := range *list.prev {
			kept := false
			for _, cur := range *list.next {
				if cur.Major == old.Major && cur.Minor == old.Minor {
					kept = true
				}
			}
			if !kept {
				*list.next = append(*list.next, Throttle{Major: old.Major, Minor: old.Minor})
			}
		}
	}
}
