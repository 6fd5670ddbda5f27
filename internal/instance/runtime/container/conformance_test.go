package container_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/instance/runtime/container"
	"github.com/lodge-project/lodge/internal/instance/runtime/runtimetest"
)

// TestMain lets this test binary be what lodged is to its containers:
// libcontainer's init and the console keeper are lodged re-executed.
func TestMain(m *testing.M) {
	if container.Reexec(os.Args) {
		return
	}
	logrus.SetLevel(logrus.ErrorLevel) // as lodged does: libcontainer's warnings are noise
	os.Exit(m.Run())
}

// TestContainerConformance runs the runtime suite on real containers: a
// busybox rootfs (Debian's busybox-static) whose init sleeps until killed.
func TestContainerConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("containers need root")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("busybox-static is not installed (scripts/install-deps.sh)")
	}
	runtimetest.Run(t, runtimetest.Subject{
		New: func(t *testing.T) runtime.Runtime {
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o711); err != nil {
				t.Fatal(err)
			}
			d, err := container.New(filepath.Join(dir, "runtime"), dir, func(n string) string { return filepath.Join(dir, "logs", n) },
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = d.Stop(t.Context(), "c1", true, 0)
				// The runtime's parent cgroups, now empty, go with the test.
				dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + container.CgroupParent(dir))
				unified, _ := filepath.Glob("/sys/fs/cgroup" + container.CgroupParent(dir))
				for _, c := range append(dirs, unified...) {
					_ = os.Remove(c)
				}
			})
			return d
		},
		Spec: func(t *testing.T, name string) runtime.Spec {
			return runtime.Spec{Name: name, Rootfs: busyboxRootfs(t), Limits: runtimetest.DefaultLimits(goruntime.NumCPU())}
		},
	})
}

// busyboxRootfs is a minimal privileged rootfs: busybox, and an init that
// sleeps.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "sbin", "proc", "sys", "dev", "tmp", "mnt", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "true", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	initScript := "#!/bin/sh\nexec /bin/sleep 1000000\n"
	if err := os.WriteFile(filepath.Join(root, "sbin", "init"), []byte(initScript), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}
