// Package limits turns limits.* config keys into Resources, Lodge's own
// description of what an instance may use. A runtime turns Resources into
// its mechanism: the container runtime into cgroup settings (v1 and v2),
// a VM runtime into QEMU's.
package limits

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Host is what percentages and CPU counts are measured against, and what
// the host's cgroups can do.
type Host struct {
	CPUs        int
	MemoryBytes int64
	// SwapAccounting: the memory controller limits swap (memsw on v1).
	SwapAccounting bool
	// IOWeight: the I/O controller has weights (blkio.weight/bfq.weight, io.weight).
	IOWeight bool
}

// Resources is what an instance may use. Values are in cgroup v1's terms
// (shares, quota per period), which the container runtime converts for v2.
type Resources struct {
	// Memory is the hard limit in bytes (-1: none); MemoryReservation the
	// soft one (0: none); MemorySwap memory plus swap (-1: unlimited, 0:
	// left alone where swap is not accounted).
	Memory, MemoryReservation, MemorySwap int64
	// MemorySwappiness is 0 to keep the instance off swap (nil: the host's).
	MemorySwappiness *uint64
	CPUShares        uint64
	// CPUQuota is microseconds per CPUPeriod (-1: no quota).
	CPUQuota  int64
	CPUPeriod uint64
	// CPUSet lists the CPUs the instance may run on ("0-3", "1,3").
	CPUSet string
	// Processes caps the number of tasks (-1: none).
	Processes int64
	// IOWeight is the block I/O weight, 10 to 1000 (0: left alone).
	IOWeight uint16
	// Per-device rates in bytes or operations per second; a rate of 0
	// lifts the device's limit.
	ReadBps, WriteBps, ReadIOPS, WriteIOPS []Throttle
}

// Throttle is a rate on block device Major:Minor.
type Throttle struct {
	Major, Minor int64
	Rate         uint64
}

// FromConfig builds the full resource set for an expanded config. Keys that
// are unset get explicit "unlimited" values, so that applying the result to
// a running container also lifts limits that were removed.
func FromConfig(config map[string]string, host Host) (*Resources, error) {
	r := &Resources{
		Memory:    -1,
		CPUShares: 1024,
		CPUQuota:  -1,
		CPUPeriod: 100000,
		CPUSet:    fmt.Sprintf("0-%d", host.CPUs-1),
		Processes: -1,
	}
	if v := config["limits.memory"]; v != "" {
		b, err := Memory(v, host.MemoryBytes)
		if err != nil {
			return nil, err
		}
		r.Memory = b
	}
	if v := config["limits.cpu"]; v != "" {
		set, err := CPUSet(v, host.CPUs)
		if err != nil {
			return nil, err
		}
		r.CPUSet = set
	}
	if v := config["limits.cpu.allowance"]; v != "" {
		if err := allowance(v, r); err != nil {
			return nil, err
		}
	}
	if v := config["limits.cpu.priority"]; v != "" && !strings.HasSuffix(config["limits.cpu.allowance"], "%") {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 10 {
			return nil, fmt.Errorf("limits.cpu.priority %q: want 0 (lowest) to 10 (highest)", v)
		}
		// 10 is the default share (1024); each step down takes a tenth off.
		r.CPUShares = uint64(max(2, 1024*(p+1)/11))
	}
	if err := memoryModes(config, host, r); err != nil {
		return nil, err
	}
	if v := config["limits.disk.priority"]; v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 10 {
			return nil, fmt.Errorf("limits.disk.priority %q: want 0 (lowest) to 10 (highest)", v)
		}
		if !host.IOWeight {
			return nil, fmt.Errorf("limits.disk.priority: this host's I/O scheduler has no weights (no blkio.weight or io.weight); use limits.read/limits.write on disks instead")
		}
		r.IOWeight = uint16(10 + p*99) // 10..1000
	}
	if v := config["limits.processes"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("limits.processes %q: want a positive number of processes", v)
		}
		r.Processes = n
	}
	return r, nil
}

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"kB": 1000, "KB": 1000, "MB": 1000 * 1000, "GB": 1000 * 1000 * 1000, "TB": 1000 * 1000 * 1000 * 1000,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// ParseSize reads a byte size such as "256MiB", "1GB" or "1048576".
func ParseSize(v string) (int64, error) {
	i := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := v, ""
	if i >= 0 {
		num, unit = v[:i], v[i:]
	}
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size: use a number with an optional unit (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", v)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*float64(mult) > math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size", v)
	}
	return int64(f * float64(mult)), nil
}

// Memory reads limits.memory: a size or a percentage of the host's memory.
func Memory(v string, hostBytes int64) (int64, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		pct, err := strconv.ParseFloat(p, 64)
		if err != nil || pct <= 0 || pct > 100 {
			return 0, fmt.Errorf("limits.memory %q: a percentage must be above 0 and at most 100", v)
		}
		return int64(float64(hostBytes) * pct / 100), nil
	}
	b, err := ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("limits.memory: %w", err)
	}
	if b < 4<<20 {
		return 0, fmt.Errorf("limits.memory %q: at least 4MiB is needed to run anything", v)
	}
	return b, nil
}

// CPUSet reads limits.cpu: a count ("2": the first CPUs) or a set ("0,2-3").
func CPUSet(v string, hostCPUs int) (string, error) {
	if n, err := strconv.Atoi(v); err == nil && !strings.ContainsAny(v, ",-") {
		if n < 1 || n > hostCPUs {
			return "", fmt.Errorf("limits.cpu %q: the host has %d CPUs", v, hostCPUs)
		}
		if n == 1 {
			return "0", nil
		}
		return fmt.Sprintf("0-%d", n-1), nil
	}
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return "", fmt.Errorf("limits.cpu %q: use a count (2) or a set of CPUs (0,2-3)", v)
		}
		if b >= hostCPUs {
			return "", fmt.Errorf("limits.cpu %q: CPU %d does not exist (the host has %d)", v, b, hostCPUs)
		}
	}
	return v, nil
}

// allowance reads limits.cpu.allowance: "50%" (a share under contention)
// or "25ms/100ms" (a hard quota per period).
func allowance(v string, r *Resources) error {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		pct, err := strconv.Atoi(p)
		if err != nil || pct <= 0 || pct > 100 {
			return fmt.Errorf("limits.cpu.allowance %q: a percentage must be 1 to 100", v)
		}
		r.CPUShares = uint64(max(2, 1024*pct/100))
		return nil
	}
	q, p, ok := strings.Cut(v, "/")
	quota, err1 := time.ParseDuration(q)
	period, err2 := time.ParseDuration(p)
	if !ok || err1 != nil || err2 != nil || quota < time.Millisecond || period < time.Millisecond || period > time.Second {
		return fmt.Errorf("limits.cpu.allowance %q: use a percentage (50%%) or quota/period (25ms/100ms, period 1ms to 1s)", v)
	}
	r.CPUQuota = quota.Microseconds()
	r.CPUPeriod = uint64(period.Microseconds())
	return nil
}

// memoryModes applies limits.memory.enforce (hard or soft) and
// limits.memory.swap (true or false).
func memoryModes(config map[string]string, host Host, r *Resources) error {
	switch v := config["limits.memory.enforce"]; v {
	case "", "hard":
	case "soft":
		if r.Memory > 0 {
			r.MemoryReservation = r.Memory
			r.Memory = -1
		}
	default:
		return fmt.Errorf("limits.memory.enforce %q: use hard or soft", v)
	}
	if host.SwapAccounting {
		r.MemorySwap = -1
	}
	switch v := config["limits.memory.swap"]; v {
	case "", "true":
	case "false":
		zero := uint64(0)
		r.MemorySwappiness = &zero
		if r.Memory > 0 {
			if !host.SwapAccounting {
				return fmt.Errorf("limits.memory.swap=false: this host does not account swap (boot with swapaccount=1)")
			}
			r.MemorySwap = r.Memory
		}
	default:
		return fmt.Errorf("limits.memory.swap %q: use true or false", v)
	}
	return nil
}
