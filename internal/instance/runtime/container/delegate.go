package container

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/lodge-project/lodge/internal/idmap"
)

// delegatedFiles are the files of a cgroup its owner must be able to write
// to manage sub-cgroups, as LXC delegates them (v1 and v2).
var delegatedFiles = []string{"", "cgroup.procs", "tasks", "cgroup.clone_children", "cgroup.subtree_control", "cgroup.threads", "notify_on_release"}

// delegateHook hands the container's own cgroups to its root, so that
// systemd inside an unprivileged container can make its sub-cgroups. It
// runs after libcontainer made the cgroups and before the container's init.
func delegateHook(m *idmap.Map, cgroupParent string) configs.Hook {
	return configs.NewFunctionHook(func(st *specs.State) error {
		if m == nil {
			return nil
		}
		dirs, err := ownCgroupDirs(st.Pid, cgroupParent)
		if err != nil {
			return err
		}
		for _, dir := range dirs {
			for _, f := range delegatedFiles {
				err := os.Lchown(filepath.Join(dir, f), int(m.ShiftUID(0)), int(m.ShiftGID(0)))
				if err != nil && !os.IsNotExist(err) {
					return fmt.Errorf("delegate cgroup %s: %w", dir, err)
				}
			}
		}
		return nil
	})
}

// ownCgroupDirs lists pid's cgroup directories that belong to a Lodge
// container (never a parent's or the root: those stay the host's).
func ownCgroupDirs(pid int, cgroupParent string) ([]string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	unified := isUnifiedOnly()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], cgroupParent+"/") {
			continue
		}
		var base string
		switch {
		case parts[1] == "" && unified:
			base = "/sys/fs/cgroup"
		case parts[1] == "":
			base = "/sys/fs/cgroup/unified"
		default:
			base = filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(parts[1], "name="))
		}
		dirs = append(dirs, filepath.Join(base, parts[2]))
	}
	return dirs, sc.Err()
}

func isUnifiedOnly() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}
