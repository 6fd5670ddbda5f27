package instance

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/internal/storage"
)

func withRoot(name, size string) Expanded {
	root := map[string]string{"type": "disk", "path": "/", "pool": "default"}
	if size != "" {
		root["size"] = size
	}
	return Expanded{Record: Record{Name: name}, Config: map[string]string{}, Devices: map[string]map[string]string{"root": root}}
}

func TestFitDiskSumsRootDisksAndCustomVolumes(t *testing.T) {
	vol := func(name, size string) storage.VolumeRecord {
		cfg := map[string]string{}
		if size != "" {
			cfg["size"] = size
		}
		return storage.VolumeRecord{Pool: "default", Name: name, Config: cfg}
	}
	for _, c := range []struct {
		what      string
		instances []Expanded
		volumes   []storage.VolumeRecord
		refusal   string // "" when it fits
	}{
		{"under the limit", []Expanded{withRoot("c1", "4GiB")}, []storage.VolumeRecord{vol("data", "5GiB")}, ""},
		{"exactly the limit", []Expanded{withRoot("c1", "5GiB"), withRoot("c2", "5GiB")}, nil, ""},
		{"over it, by a volume", []Expanded{withRoot("c1", "5GiB")}, []storage.VolumeRecord{vol("data", "6GiB")}, "limits.disk is 10GiB"},
		{"an instance without a size", []Expanded{withRoot("c1", "")}, nil, `instance "c1" must set a size`},
		{"a volume without a size", nil, []storage.VolumeRecord{vol("data", "")}, `custom volume "data" on pool "default" must set a size`},
		{"a size that is not one", []Expanded{withRoot("c1", "lots")}, nil, "not a size"},
	} {
		err := fitDisk("p1", "10GiB", c.instances, c.volumes)
		if c.refusal == "" {
			if err != nil {
				t.Errorf("%s: %v", c.what, err)
			}
			continue
		}
		if statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), c.refusal) {
			t.Errorf("%s: want a 400 naming %q, got %v", c.what, c.refusal, err)
		}
	}
	if n := diskUse([]Expanded{withRoot("c1", "1GiB"), withRoot("c2", "")}, []storage.VolumeRecord{vol("v", "512MiB")}); n != 1536<<20 {
		t.Errorf("disk use %d", n)
	}
}

func TestRestrictionsOnDeviceTypesAndLowLevelKeys(t *testing.T) {
	restricted := map[string]string{"restricted": "true"}
	for _, c := range []struct {
		what    string
		cfg     map[string]string
		config  map[string]string
		device  map[string]string
		refusal string
	}{
		{"a gpu, blocked by default", restricted, nil, map[string]string{"type": "gpu"}, "restricted.devices.gpu"},
		{"a usb device, blocked by default", restricted, nil, map[string]string{"type": "usb"}, "restricted.devices.usb"},
		{"a pci device, blocked by default", restricted, nil, map[string]string{"type": "pci"}, "restricted.devices.pci"},
		{"an infiniband nic, blocked by default", restricted, nil, map[string]string{"type": "infiniband"}, "restricted.devices.infiniband"},
		{"a gpu, allowed", map[string]string{"restricted": "true", "restricted.devices.gpu": "allow"}, nil, map[string]string{"type": "gpu"}, ""},
		{"syscall interception", restricted, map[string]string{"security.syscalls.intercept.mknod": "true"}, nil, "restricted.containers.interception"},
		{"syscall interception, allowed", map[string]string{"restricted": "true", "restricted.containers.interception": "allow"}, map[string]string{"security.syscalls.intercept.mknod": "true"}, nil, ""},
		{"raw keys of a container", restricted, map[string]string{"raw.lxc": "x"}, nil, "restricted.containers.lowlevel"},
	} {
		e := withRoot("c1", "")
		for k, v := range c.config {
			e.Config[k] = v
		}
		if c.device != nil {
			e.Devices["dev"] = c.device
		}
		err := checkRestrictions(e, c.cfg)
		if c.refusal == "" {
			if err != nil {
				t.Errorf("%s: %v", c.what, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.refusal) {
			t.Errorf("%s: want a refusal naming %s, got %v", c.what, c.refusal, err)
		}
	}
	vm := withRoot("v1", "")
	vm.Type = typeVM
	vm.Config["raw.qemu"] = "-x"
	if err := checkRestrictions(vm, restricted); err == nil || !strings.Contains(err.Error(), "restricted.virtual-machines.lowlevel") {
		t.Errorf("a VM's raw key: %v", err)
	}
}
