package resources

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func put(t *testing.T, root, path, content string) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A host tree with one socket of two cores, two threads each (cpu3 off
// and isolated), one NUMA node, and hugepages.
func TestFromTree(t *testing.T) {
	root := t.TempDir()
	cpu := "sys/devices/system/cpu/"
	for id, core := range []string{"0", "1", "0", "1"} {
		dir := cpu + "cpu" + string(rune('0'+id)) + "/"
		put(t, root, dir+"topology/physical_package_id", "0")
		put(t, root, dir+"topology/core_id", core)
		put(t, root, dir+"cpufreq/scaling_cur_freq", "2400000")
		put(t, root, dir+"cpufreq/cpuinfo_max_freq", "3600000")
		put(t, root, dir+"cache/index0/level", "1")
		put(t, root, dir+"cache/index0/type", "Data")
		put(t, root, dir+"cache/index0/size", "32K")
		if err := os.MkdirAll(filepath.Join(root, dir, "node0"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	put(t, root, cpu+"cpu3/online", "0")
	put(t, root, cpu+"isolated", "3")
	put(t, root, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU\nphysical id\t: 0\n")
	put(t, root, "proc/meminfo", "MemTotal:       8000 kB\nMemFree:        1000 kB\nMemAvailable:   6000 kB\nHugePages_Total:       4\nHugePages_Free:        1\nHugepagesize:       2048 kB")
	put(t, root, "sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:       8000 kB\nNode 0 MemUsed:        2000 kB\nNode 0 HugePages_Total:     4\nNode 0 HugePages_Free:      1")

	r, err := Host{Root: root}.Get()
	if err != nil {
		t.Fatal(err)
	}
	if r.CPU.Total != 4 || len(r.CPU.Sockets) != 1 {
		t.Fatalf("cpu: %+v", r.CPU)
	}
	s := r.CPU.Sockets[0]
	if s.Name != "Test CPU" || s.Vendor != "GenuineIntel" || len(s.Cores) != 2 || s.Frequency != 2400 || s.FrequencyTurbo != 3600 {
		t.Fatalf("socket: %+v", s)
	}
	if len(s.Cache) != 1 || s.Cache[0].Size != 32*1024 || s.Cache[0].Level != 1 {
		t.Fatalf("cache: %+v", s.Cache)
	}
	c1 := s.Cores[1]
	if c1.Core != 1 || len(c1.Threads) != 2 || c1.Threads[0].ID != 1 || c1.Threads[1].ID != 3 || c1.Threads[1].Thread != 1 {
		t.Fatalf("core 1: %+v", c1)
	}
	if !c1.Threads[0].Online || c1.Threads[1].Online || !c1.Threads[1].Isolated {
		t.Fatalf("online and isolated: %+v", c1.Threads)
	}
	m := r.Memory
	if m.Total != 8000*1024 || m.Used != 2000*1024 || m.HugepagesSize != 2048*1024 || m.HugepagesTotal != 4*2048*1024 || m.HugepagesUsed != 3*2048*1024 {
		t.Fatalf("memory: %+v", m)
	}
	if len(m.Nodes) != 1 || m.Nodes[0].Total != 8000*1024 || m.Nodes[0].Used != 2000*1024 || m.Nodes[0].HugepagesUsed != 3*2048*1024 {
		t.Fatalf("memory nodes: %+v", m.Nodes)
	}
}

// On this host: every CPU the Go runtime may use is counted, and memory
// is there.
func TestThisHost(t *testing.T) {
	r, err := Host{Root: "/"}.Get()
	if err != nil {
		t.Fatal(err)
	}
	if r.CPU.Total < uint64(runtime.NumCPU()) || len(r.CPU.Sockets) == 0 || r.Memory.Total == 0 || r.Memory.Used > r.Memory.Total {
		t.Fatalf("this host: %+v", r)
	}
}
