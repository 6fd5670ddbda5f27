package runtime

import (
	"os"
	"syscall"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/limits"
)

// Spec is what a runtime needs to start an instance.
type Spec struct {
	Name string
	// Rootfs is the mounted root filesystem of the instance's volume.
	Rootfs string
	// IDMap is nil for a privileged instance.
	IDMap  *idmap.Map
	Limits *limits.Resources
	// Nesting allows an instance inside the instance.
	Nesting  bool
	Sysctls  map[string]string
	Disks    []Disk
	UnixDevs []UnixDev
	NICs     []NIC
}

// Device is what Attach and Detach plug: a Disk, a UnixDev or a NIC.
type Device interface{ device() }

// Disk is a host path made visible inside the instance at Path. Shift
// makes host root's files show as the instance's root's (idmapped): opt-in
// (shift=true), as in LXD, for directories only trusted users reach.
type Disk struct {
	Source, Path string
	ReadOnly     bool
	Shift        bool
}

// UnixDev is a device node the instance gets at Path: a node of its own
// (Source, made with the instance's ids and mode) passed in, and allowed.
// UID and GID are the instance's own ids.
type UnixDev struct {
	Source, Path string
	Block        bool
	Major, Minor int64
	UID, GID     uint32
	Mode         uint32
}

// NIC is one network interface, named Name inside. Of Type bridged (""),
// a veth pair whose host end, HostName, is enslaved to the bridge Parent;
// p2p, a veth pair whose host end stays on its own; macvlan, a macvlan of
// the host interface Parent, with no host end.
type NIC struct {
	Name, HostName, Parent, HWAddr string
	MTU                            int
	Type                           string
}

// NIC types besides bridged.
const (
	NICP2P     = "p2p"
	NICMacvlan = "macvlan"
)

// HasHostEnd says whether the NIC has a host-side interface (HostName)
// where filters and bandwidth limits go.
func (n NIC) HasHostEnd() bool { return n.Type != NICMacvlan }

func (Disk) device()    {}
func (UnixDev) device() {}
func (NIC) device()     {}

// ExecSpec describes a command to run in an instance.
type ExecSpec struct {
	Args     []string
	Env      []string
	Cwd      string
	UID, GID int
	// TTY gives the command a pty (Proc.PTY).
	TTY           bool
	Width, Height uint16
	// Stdin, Stdout, Stderr are used when TTY is false.
	Stdin, Stdout, Stderr *os.File
	// Hold readies the command and leaves its exec to Proc.Release.
	Hold bool
}

// Proc is a command running in an instance.
type Proc interface {
	// Wait waits for the command and returns its exit code (128+signal
	// when killed, -1 when it could not be read).
	Wait() int
	// Signal sends sig to the command.
	Signal(sig syscall.Signal) error
	// Release runs a held command; Abandon ends it unrun (Wait still
	// reaps it).
	Release() error
	Abandon()
	// PTY is the pty master of a TTY command (nil otherwise); Resize
	// sets its window size.
	PTY() *os.File
	Resize(cols, rows uint16) error
}

// Usage is what a running instance uses, and its network interfaces as
// seen inside (HostName left to the caller, who names host ends).
type Usage struct {
	Processes                             int
	CPUNanos                              int64
	Memory, MemoryPeak, Swap, MemoryLimit int64
	Interfaces                            map[string]api.InstanceStateNetwork
	// CPUs is the CPU time by host CPU, where the cgroup tells it (cgroup
	// v1); otherwise one entry, the totals.
	CPUs []CPUTime
	// MemoryStat is the cgroup's memory breakdown under cgroup v1's names
	// (rss, cache, mapped, dirty, writeback, shmem, active_anon, ...),
	// whichever cgroup version the host runs.
	MemoryStat map[string]uint64
	// Block is the block I/O by device.
	Block []BlockIO
}

// CPUTime is CPU time spent in user and kernel mode, in nanoseconds.
type CPUTime struct{ User, System uint64 }

// BlockIO is the I/O an instance did on one block device.
type BlockIO struct {
	Major, Minor                           uint64
	ReadBytes, Reads, WrittenBytes, Writes uint64
}

// Add puts a device in the spec, with the others of its kind.
func (s *Spec) Add(dev Device) {
	switch d := dev.(type) {
	case Disk:
		s.Disks = append(s.Disks, d)
	case UnixDev:
		s.UnixDevs = append(s.UnixDevs, d)
	case NIC:
		s.NICs = append(s.NICs, d)
	}
}
