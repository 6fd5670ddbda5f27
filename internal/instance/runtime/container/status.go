package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/procfs"
	"github.com/opencontainers/runc/libcontainer"
)

// statusFile is a small record written beside libcontainer's state when a
// container starts, so that listing hundreds of instances does not parse
// each one's full libcontainer state: the init pid and its start time
// (which tells a live init from a recycled pid) and the freezer file.
type statusFile struct {
	Pid       int    `json:"pid"`
	StartTime string `json:"start_time"`
	Freezer   string `json:"freezer"`
}

func (d *Driver) statusPath(name string) string {
	return filepath.Join(d.root, name, "lodge-status.json")
}

// writeStatus records a just-started container (atomically).
func (d *Driver) writeStatus(c *libcontainer.Container, pid int) {
	st, err := c.State()
	if err != nil {
		return
	}
	start, _, err := procfs.StartTime(pid)
	if err != nil {
		return
	}
	freezer := ""
	if p, ok := st.CgroupPaths["freezer"]; ok {
		freezer = filepath.Join(p, "freezer.state")
	} else if p, ok := st.CgroupPaths[""]; ok {
		freezer = filepath.Join(p, "cgroup.freeze")
	}
	data, _ := json.Marshal(statusFile{Pid: pid, StartTime: start, Freezer: freezer})
	tmp := d.statusPath(c.ID()) + ".tmp"
	if os.WriteFile(tmp, data, 0o600) == nil {
		_ = os.Rename(tmp, d.statusPath(c.ID()))
	}
}

// fastStatus answers from the status file; ok is false when there is none
// (then libcontainer's own state decides).
func (d *Driver) fastStatus(name string) (state string, pid int, ok bool) {
	data, err := os.ReadFile(d.statusPath(name))
	if err != nil {
		if os.IsNotExist(err) {
			if _, err := os.Stat(filepath.Join(d.root, name)); os.IsNotExist(err) {
				return StateStopped, 0, true // no container at all
			}
		}
		return "", 0, false
	}
	var sf statusFile
	if json.Unmarshal(data, &sf) != nil {
		return "", 0, false
	}
	start, zombie, err := procfs.StartTime(sf.Pid)
	if err != nil || zombie || start != sf.StartTime {
		return StateStopped, 0, true
	}
	if sf.Freezer != "" {
		if f, err := os.ReadFile(sf.Freezer); err == nil {
			v := strings.TrimSpace(string(f))
			if v == "FROZEN" || v == "FREEZING" || v == "1" {
				return StateFrozen, sf.Pid, true
			}
		}
	}
	return StateRunning, sf.Pid, true
}
