package procfs

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of a mountinfo file.
type Mount struct {
	Mountpoint, FSType, Source string
}

// Mounts reads the calling process's mount table.
func Mounts() (MountTable, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out MountTable
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		out = append(out, Mount{Mountpoint: unescape(fields[4]), FSType: tail[0], Source: unescape(tail[1])})
	}
	return out, sc.Err()
}

// MountTable is a mount table, in mount order.
type MountTable []Mount

// Containing is the mount that holds path (clean and absolute): the one
// with the deepest mount point that is path or a parent of it, and of
// mounts on one point the last, which hides the others.
func (t MountTable) Containing(path string) (Mount, bool) {
	best, found := Mount{}, false
	for _, m := range t {
		if m.Mountpoint == path || m.Mountpoint == "/" ||
			(strings.HasPrefix(path, m.Mountpoint) && path[len(m.Mountpoint)] == '/') {
			if !found || len(m.Mountpoint) >= len(best.Mountpoint) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// unescape undoes mountinfo's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
