package container

import (
	"math/bits"
	"testing"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/limits"
)

// TestAttachJobCoversWhatBuildConfigWrites: everything a container's
// configuration asks of its processes reaches an exec's job, and settings
// the attach helper does not apply are refused rather than dropped.
func TestAttachJobCoversWhatBuildConfigWrites(t *testing.T) {
	m := &idmap.Map{HostUID: 1000000, HostGID: 1000000, Size: idmap.Size}
	cfg, err := buildConfig(runtime.Spec{Name: "c", Rootfs: "/nonexistent", IDMap: m, Limits: &limits.Resources{}}, "/lodge")
	if err != nil {
		t.Fatal(err)
	}
	st := &libcontainer.State{BaseState: libcontainer.BaseState{Config: *cfg, InitProcessPid: 42, InitProcessStartTime: 7},
		CgroupPaths: map[string]string{"cpu": "/sys/fs/cgroup/cpu/lodge/c", "cpuacct": "/sys/fs/cgroup/cpu/lodge/c", "": "/sys/fs/cgroup/unified/lodge/c"}}
	job, err := attachJob(st)
	if err != nil {
		t.Fatal(err)
	}
	const want = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUSER
	if job.Namespaces != want {
		t.Errorf("namespaces %#x, want %#x", job.Namespaces, want)
	}
	if len(job.CgroupDirs) != 2 {
		t.Errorf("cgroups joined: %v (each directory once)", job.CgroupDirs)
	}
	if n := bits.OnesCount64(job.Caps.Bounding); n != len(cfg.Capabilities.Bounding) || job.Caps.Effective != job.Caps.Bounding || job.Caps.Ambient != 0 {
		t.Errorf("capabilities %+v from %d names", job.Caps, len(cfg.Capabilities.Bounding))
	}
	if job.Caps.Bounding&(1<<unix.CAP_SYS_MODULE) != 0 {
		t.Error("CAP_SYS_MODULE is in the bounding set")
	}
	if len(job.Seccomp) == 0 || len(job.Seccomp)%8 != 0 {
		t.Errorf("seccomp program of %d bytes", len(job.Seccomp))
	}
	if job.InitPid != 42 || job.InitStartTime != 7 {
		t.Errorf("init %d/%d", job.InitPid, job.InitStartTime)
	}

	st.Config.Rlimits = []configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Hard: 10, Soft: 10}}
	if _, err := attachJob(st); err == nil {
		t.Error("rlimits, which exec does not apply, were accepted")
	}
}
