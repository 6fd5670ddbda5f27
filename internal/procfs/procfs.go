// Package procfs reads what Lodge needs of /proc.
package procfs

import (
	"fmt"
	"os"
	"strings"
)

// StartTime is when a process started (clock ticks since boot, field 22
// of /proc/PID/stat: with the pid, it names one process for good), and
// whether it is a zombie.
func StartTime(pid int) (start string, zombie bool, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false, err
	}
	// The fields after the command name, which may hold spaces and ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", false, fmt.Errorf("malformed stat of %d", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return "", false, fmt.Errorf("malformed stat of %d", pid)
	}
	return fields[19], fields[0] == "Z", nil
}
