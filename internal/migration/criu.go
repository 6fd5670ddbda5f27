package migration

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
)

var criuOnce struct {
	sync.Once
	err error
}

// CheckCRIU says whether stateful work (a stateful stop, snapshot or live
// migration) can run here: nil when `criu check` passes, else an error
// that quotes why it fails. It runs once per daemon.
func CheckCRIU(ctx context.Context) error {
	criuOnce.Do(func() {
		if _, err := exec.LookPath("criu"); err != nil {
			criuOnce.err = errors.New("stateful operations need CRIU, which is not installed on this host (Debian's criu package)")
			return
		}
		out, err := exec.CommandContext(ctx, "criu", "check").CombinedOutput()
		if err == nil {
			return
		}
		reason := strings.TrimSpace(string(out))
		if lines := strings.Split(reason, "\n"); len(lines) > 3 {
			reason = strings.Join(lines[len(lines)-3:], "; ")
		} else {
			reason = strings.Join(lines, "; ")
		}
		criuOnce.err = errors.New("stateful operations need CRIU, and `criu check` fails on this host: " + reason)
	})
	return criuOnce.err
}
