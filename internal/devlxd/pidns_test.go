package devlxd

import (
	"os/exec"
	"syscall"
	"testing"
)

// newPIDNamespace starts a sleeping process as pid 1 of a new PID
// namespace, killed when the test ends.
func newPIDNamespace(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}
