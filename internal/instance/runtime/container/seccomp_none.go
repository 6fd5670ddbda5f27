//go:build !seccomp

package container

import (
	"errors"

	"github.com/opencontainers/runc/libcontainer/configs"
)

// seccompProgram fails without libseccomp, as libcontainer's start does.
func seccompProgram(cfg *configs.Seccomp) ([]byte, error) {
	if cfg == nil {
		return nil, nil
	}
	return nil, errors.New("lodged was built without seccomp support (build with -tags seccomp)")
}
