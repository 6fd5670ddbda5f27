//go:build seccomp

package container

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/runc/libcontainer/configs"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// seccompProgram compiles the container's seccomp policy to the classic
// BPF program the kernel loads, as libcontainer built it for the init. It
// knows the policies buildConfig writes: allow by default, fail a list of
// syscalls with an errno. (A default that is not "allow" would also need
// runc's -ENOSYS stub for syscalls newer than the policy.)
func seccompProgram(cfg *configs.Seccomp) ([]byte, error) {
	if cfg == nil {
		return nil, nil
	}
	if cfg.DefaultAction != configs.Allow || len(cfg.Flags) > 0 {
		return nil, errors.New("seccomp policy: only allow-by-default policies without flags are supported")
	}
	filter, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err != nil {
		return nil, fmt.Errorf("seccomp filter: %w", err)
	}
	defer filter.Release()
	for _, name := range cfg.Architectures {
		arch, err := libseccomp.GetArchFromString(name)
		if err != nil {
			return nil, fmt.Errorf("seccomp architecture %q: %w", name, err)
		}
		if err := filter.AddArch(arch); err != nil {
			return nil, fmt.Errorf("seccomp architecture %q: %w", name, err)
		}
	}
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, err
	}
	for _, call := range cfg.Syscalls {
		if call.Action != configs.Errno || call.ErrnoRet == nil || len(call.Args) > 0 {
			return nil, fmt.Errorf("seccomp rule for %s: only argument-free errno rules are supported", call.Name)
		}
		nr, err := libseccomp.GetSyscallFromName(call.Name)
		if err != nil {
			continue // unknown to this libseccomp (and so to the init's filter): libcontainer skips it too
		}
		if err := filter.AddRule(nr, libseccomp.ActErrno.SetReturnCode(int16(*call.ErrnoRet))); err != nil {
			return nil, fmt.Errorf("seccomp rule for %s: %w", call.Name, err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	exported := make(chan error, 1)
	go func() {
		exported <- filter.ExportBPF(w)
		w.Close()
	}()
	prog, rerr := io.ReadAll(r)
	if err := <-exported; err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	return prog, rerr
}
