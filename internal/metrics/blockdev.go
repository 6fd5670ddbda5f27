package metrics

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
)

// BlockNames names block devices by their numbers from sysfs, as the
// kernel names them (DEVNAME in /sys/dev/block/M:m/uevent), remembering
// each answer: device numbers are few and names rarely change.
type BlockNames struct {
	mu    sync.Mutex
	names map[[2]uint64]string
}

// Name is the device's name, or "" when sysfs does not know it.
func (b *BlockNames) Name(major, minor uint64) string {
	k := [2]uint64{major, minor}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n, ok := b.names[k]; ok {
		return n
	}
	if b.names == nil {
		b.names = map[[2]uint64]string{}
	}
	n := readDevName(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", major, minor))
	b.names[k] = n
	return n
}

func readDevName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "DEVNAME="); ok {
			return v
		}
	}
	return ""
}
