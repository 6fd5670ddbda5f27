package limits

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// FavorCgroupMoves turns on cgroup2's favordynmods on the host's cgroup2
// mount (the hybrid layout's unified one too). Moving a task between
// cgroups otherwise waits for an RCU grace period, 7-10 ms here, on every
// container start and every exec; with it, forks and exits take a slightly
// slower path instead. The lock it changes is shared by every hierarchy,
// v1 ones included. It returns the mount point changed, "" when it was on
// already or there is no cgroup2 mount.
func FavorCgroupMoves() (string, error) {
	target, opts, err := cgroup2Mount()
	if err != nil || target == "" {
		return "", err
	}
	var keep []string
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "favordynmods":
			return "", nil
		case "rw", "ro", "":
		default:
			keep = append(keep, o)
		}
	}
	// A remount sets exactly the options it is given: keep the others
	// (nsdelegate, memory_recursiveprot, ...).
	data := strings.Join(append(keep, "favordynmods"), ",")
	if err := unix.Mount("none", target, "", unix.MS_REMOUNT, data); err != nil {
		return "", fmt.Errorf("remount %s with %s: %w", target, data, err)
	}
	return target, nil
}

// cgroup2Mount finds the first cgroup2 mount and its superblock options.
func cgroup2Mount() (string, string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) > 4 && len(tail) > 2 && tail[0] == "cgroup2" {
			return fields[4], tail[2], nil
		}
	}
	return "", "", sc.Err()
}
