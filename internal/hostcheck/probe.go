package hostcheck

import (
	"context"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/storage/dir"
)

// Probe adds the checks that try things rather than read them, which
// need root: an overlay over an idmapped image in scratch (a directory on
// the filesystem the pools will be on), `criu check`, and making a KVM
// virtual machine.
func Probe(ctx context.Context, scratch string, r *Report) {
	idm := Item{Area: "Kernel", Name: "idmapped mounts under overlayfs", For: "dir pools layered on their image, idmapped custom volumes and disks"}
	if os.Geteuid() != 0 {
		idm.Detail = "not probed: run lodge check as root"
	} else if err := os.MkdirAll(scratch, 0o755); err != nil {
		idm.Detail = err.Error()
	} else {
		idm.OK = dir.CanLayerIn(scratch)
		_ = os.RemoveAll(scratch)
		if idm.OK {
			idm.Detail = "probed on " + scratch
		} else {
			idm.Detail = "refused on " + scratch + " (Linux 6.13 or later takes idmapped layers): dir pools copy each image instead"
		}
	}
	r.Items = append(r.Items, idm)

	criu := Item{Area: "Tools", Name: "CRIU", For: "stateful stop, stateful snapshots, live migration"}
	if err := migration.CheckCRIU(ctx); err != nil {
		criu.Detail = strings.TrimPrefix(err.Error(), "stateful operations need CRIU, and ")
	} else {
		criu.OK, criu.Detail = true, "criu check passes (Lodge does not drive CRIU yet)"
	}
	r.Items = append(r.Items, criu)
	r.Items = append(r.Items, kvm())
	r.sortByArea()
}

// KVM ioctls (linux/kvm.h).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
)

func kvm() Item {
	it := Item{Area: "Tools", Name: "KVM", For: "fast virtual machines (QEMU falls back to TCG emulation)"}
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		it.Detail = "/dev/kvm: " + err.Error()
		return it
	}
	defer unix.Close(fd)
	if v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion); err != nil || v != 12 {
		it.Detail = "/dev/kvm answers no KVM API version 12"
		return it
	}
	vm, err := unix.IoctlRetInt(fd, kvmCreateVM)
	if err != nil {
		it.Detail = "/dev/kvm refuses to make a VM: " + err.Error()
		return it
	}
	unix.Close(vm)
	it.OK, it.Detail = true, "/dev/kvm makes VMs"
	return it
}
