package limits

import (
	"testing"

	"github.com/opencontainers/cgroups"
)

var host = Host{CPUs: 4, MemoryBytes: 8 << 30}

func TestResources(t *testing.T) {
	r, err := FromConfig(map[string]string{
		"limits.memory": "256MiB", "limits.cpu": "2", "limits.cpu.allowance": "25ms/100ms", "limits.processes": "100",
	}, host)
	if err != nil {
		t.Fatal(err)
	}
	if r.Memory != 256<<20 || r.CPUSet != "0-1" || r.CPUQuota != 25000 || r.CPUPeriod != 100000 || r.Processes != 100 {
		t.Fatalf("unexpected resources %+v", r)
	}
	r, err = FromConfig(map[string]string{"limits.memory": "50%", "limits.cpu.allowance": "50%", "limits.cpu": "1,3"}, host)
	if err != nil {
		t.Fatal(err)
	}
	if r.Memory != 4<<30 || r.CPUShares != 512 || r.CPUSet != "1,3" || r.Processes != -1 || r.CPUQuota != -1 {
		t.Fatalf("unexpected resources %+v", r)
	}
}

func TestUnsetMeansUnlimited(t *testing.T) {
	r, err := FromConfig(nil, host)
	if err != nil {
		t.Fatal(err)
	}
	if r.Memory != -1 || r.Processes != -1 || r.CPUQuota != -1 || r.CPUSet != "0-3" || r.CPUShares != 1024 {
		t.Fatalf("defaults %+v", r)
	}
}

func TestBadValues(t *testing.T) {
	for k, v := range map[string]string{
		"limits.memory": "lots", "limits.cpu": "9", "limits.cpu.allowance": "150%", "limits.processes": "-1",
	} {
		if _, err := FromConfig(map[string]string{k: v}, host); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	if _, err := FromConfig(map[string]string{"limits.cpu.allowance": "5ms/2s"}, host); err == nil {
		t.Error("a 2s period accepted")
	}
}

// TestV2Conversion checks the values cgroup v2 hosts get from the same
// resources: libcontainer's converters turn shares into cpu.weight.
func TestV2Conversion(t *testing.T) {
	r, _ := FromConfig(map[string]string{"limits.cpu.allowance": "50%"}, host)
	if w := cgroups.ConvertCPUSharesToCgroupV2Value(r.CPUShares); w != 59 {
		t.Fatalf("cpu.weight for 50%% = %d", w)
	}

}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GB": 1e9, "1GiB": 1 << 30, "512": 512, "1.5MiB": 3 << 19} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestPriorityAndMemoryModes(t *testing.T) {
	h := Host{CPUs: 4, MemoryBytes: 8 << 30, SwapAccounting: true}
	r, err := FromConfig(map[string]string{"limits.cpu.priority": "0", "limits.memory": "1GiB", "limits.memory.swap": "false"}, h)
	if err != nil {
		t.Fatal(err)
	}
	if r.CPUShares != 93 || r.MemorySwap != 1<<30 || r.MemorySwappiness == nil || *r.MemorySwappiness != 0 {
		t.Fatalf("priority/swap: %+v", r)
	}
	r, err = FromConfig(map[string]string{"limits.memory": "1GiB", "limits.memory.enforce": "soft"}, h)
	if err != nil {
		t.Fatal(err)
	}
	if r.Memory != -1 || r.MemoryReservation != 1<<30 {
		t.Fatalf("soft: %+v", r)
	}
	if _, err := FromConfig(map[string]string{"limits.disk.priority": "5"}, h); err == nil {
		t.Fatal("disk priority accepted on a host without I/O weights")
	}
	h.IOWeight = true
	r, err = FromConfig(map[string]string{"limits.disk.priority": "5"}, h)
	if err != nil || r.IOWeight != 505 {
		t.Fatalf("disk priority: %+v %v", r, err)
	}
	if _, err := FromConfig(map[string]string{"limits.memory.enforce": "maybe"}, h); err == nil {
		t.Fatal("bad enforce accepted")
	}
}
