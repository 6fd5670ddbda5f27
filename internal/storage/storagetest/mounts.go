package storagetest

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// UnmountBelow detaches every mount under dir, deepest first, so a test's
// directory can be removed (layered volumes stay mounted by design).
func UnmountBelow(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	prefix := filepath.Clean(dir) + "/"
	var targets []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], prefix) {
			targets = append(targets, fields[4])
		}
	}
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	for _, target := range targets {
		_ = unix.Unmount(target, unix.MNT_DETACH)
	}
	return sc.Err()
}

// WriteZeros writes n bytes to a new file and syncs it, so that a quota
// sees them; it fails when the quota refuses them.
func WriteZeros(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := 0; i < n; i += len(buf) {
		if _, err = f.Write(buf); err != nil {
			break
		}
		if err = f.Sync(); err != nil {
			break
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
