package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// TestResources: GET /1.0/resources gives the host's CPUs and memory (the
// resources extension), and lxc 5.0.2 shows a pool's space (lxc storage
// info), which needs that extension. lxc info --resources needs
// resources_v2 (GPUs, NICs, disks too), which is not advertised.
func TestResources(t *testing.T) {
	d := startDaemon(t)
	_, env := d.API("GET", "/1.0/resources", nil)
	var res api.Resources
	if err := json.Unmarshal(env.Metadata, &res); err != nil {
		t.Fatal(err)
	}
	if res.CPU.Total < uint64(runtime.NumCPU()) || res.Memory.Total == 0 {
		t.Fatalf("GET /1.0/resources: %+v", res)
	}
	// The devices are the host's, as sysfs lists them.
	nics := 0
	ifaces, _ := os.ReadDir("/sys/class/net")
	for _, i := range ifaces {
		if _, err := os.Stat(filepath.Join("/sys/class/net", i.Name(), "device")); err == nil {
			nics++
		}
	}
	ports := 0
	for _, c := range res.Network.Cards {
		ports += len(c.Ports)
	}
	if ports != nics {
		t.Errorf("%d network ports, sysfs has %d interfaces with a device: %+v", ports, nics, res.Network)
	}
	pcis, _ := os.ReadDir("/sys/bus/pci/devices")
	if res.PCI.Total != uint64(len(pcis)) {
		t.Errorf("%d PCI devices, sysfs has %d", res.PCI.Total, len(pcis))
	}
	for _, disk := range res.Storage.Disks {
		if strings.HasPrefix(disk.ID, "loop") || disk.Size == 0 || disk.Device == "" {
			t.Errorf("a disk: %+v", disk)
		}
	}
	if res.System.Type == "" || res.System.Firmware == nil {
		t.Errorf("system: %+v", res.System)
	}
	// lxc 5.0.2 renders them.
	out := d.MustLXC("info", "--resources")
	for _, want := range []string{"CPU", "Memory:", "Total:"} {
		if !strings.Contains(out, want) {
			t.Errorf("lxc info --resources lacks %q:\n%s", want, out)
		}
	}
	if len(res.Network.Cards) > 0 && !strings.Contains(out, "NIC:") && !strings.Contains(out, "NICs:") {
		t.Errorf("lxc info --resources lacks the NICs:\n%s", out)
	}
	if len(res.Storage.Disks) > 0 && !strings.Contains(out, "Disk:") && !strings.Contains(out, "Disks:") {
		t.Errorf("lxc info --resources lacks the disks:\n%s", out)
	}
	out = d.MustLXC("storage", "info", "default")
	for _, want := range []string{"total space:", "space used:", "driver: dir"} {
		if !strings.Contains(out, want) {
			t.Fatalf("lxc storage info default lacks %q:\n%s", want, out)
		}
	}
}
