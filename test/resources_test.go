package test

import (
	"encoding/json"
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
	if _, stderr, err := d.LXC("info", "--resources"); err == nil || !strings.Contains(stderr, "v2 resources") {
		t.Fatalf("lxc info --resources without resources_v2: %v %s", err, stderr)
	}
	_, env := d.API("GET", "/1.0/resources", nil)
	var res api.Resources
	if err := json.Unmarshal(env.Metadata, &res); err != nil {
		t.Fatal(err)
	}
	if res.CPU.Total < uint64(runtime.NumCPU()) || res.Memory.Total == 0 {
		t.Fatalf("GET /1.0/resources: %+v", res)
	}
	out := d.MustLXC("storage", "info", "default")
	for _, want := range []string{"total space:", "space used:", "driver: dir"} {
		if !strings.Contains(out, want) {
			t.Fatalf("lxc storage info default lacks %q:\n%s", want, out)
		}
	}
}
