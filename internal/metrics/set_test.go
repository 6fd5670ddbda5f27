package metrics

import (
	"bytes"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// parse reads text as Prometheus does, with its own parser.
func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses the output: %v\n%s", err, text)
	}
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find is the one sample of family name whose labels include want.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	var found []*dto.Metric
	for _, m := range fams[name].GetMetric() {
		ls := labelsOf(m)
		ok := true
		for k, v := range want {
			ok = ok && ls[k] == v
		}
		if ok {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d samples, want 1", name, want, len(found))
	}
	return found[0]
}

func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestInstanceMetricsParseAsPrometheusDoes(t *testing.T) {
	var s Set
	for _, name := range []string{"c1", "c2"} {
		s.AddInstance(Instance{
			Project: "default", Name: name, Type: "container",
			Usage: runtime.Usage{
				Processes: 7, Memory: 100 << 20, Swap: 1 << 20,
				CPUs:       []runtime.CPUTime{{User: 2e9, System: 5e8}, {User: 1e9, System: 0}},
				MemoryStat: map[string]uint64{"rss": 60 << 20, "cache": 30 << 20, "active": 10, "unknown_entry": 1},
				Block:      []runtime.BlockIO{{Major: 8, Minor: 0, ReadBytes: 4096, Reads: 1, WrittenBytes: 8192, Writes: 2}},
				Interfaces: map[string]api.InstanceStateNetwork{
					"eth0": {Counters: api.InstanceStateNetworkCounters{BytesReceived: 1000, BytesSent: 2000, PacketsReceived: 10, PacketsSent: 20, ErrorsReceived: 1, PacketsDroppedOutbound: 3}},
				},
			},
			MemoryTotal: 256 << 20,
			// A mount point named from inside the instance: quotes,
			// backslashes and newlines must not break the format.
			Filesystems: []Filesystem{{Device: "/dev/loop0", Mountpoint: "/a \"b\"\\\nc", FSType: "btrfs", Size: 1000, Avail: 400, Free: 500}},
			BlockName:   func(major, minor uint64) string { return map[[2]uint64]string{{8, 0}: "sda"}[[2]uint64{major, minor}] },
		})
	}
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	fams := parse(t, buf.Bytes())

	c2 := map[string]string{"project": "default", "name": "c2", "type": "container"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range c2 {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	checks := []struct {
		name   string
		labels map[string]string
		typ    dto.MetricType
		want   float64
	}{
		{"lxd_cpu_seconds_total", with(map[string]string{"cpu": "0", "mode": "user"}), dto.MetricType_COUNTER, 2},
		{"lxd_cpu_seconds_total", with(map[string]string{"cpu": "0", "mode": "system"}), dto.MetricType_COUNTER, 0.5},
		{"lxd_cpu_seconds_total", with(map[string]string{"cpu": "1", "mode": "user"}), dto.MetricType_COUNTER, 1},
		{"lxd_memory_RSS_bytes", c2, dto.MetricType_GAUGE, 60 << 20},
		{"lxd_memory_Cached_bytes", c2, dto.MetricType_GAUGE, 30 << 20},
		{"lxd_memory_MemTotal_bytes", c2, dto.MetricType_GAUGE, 256 << 20},
		{"lxd_memory_MemFree_bytes", c2, dto.MetricType_GAUGE, 156 << 20},
		{"lxd_memory_MemAvailable_bytes", c2, dto.MetricType_GAUGE, 186 << 20},
		{"lxd_memory_Swap_bytes", c2, dto.MetricType_GAUGE, 1 << 20},
		{"lxd_disk_read_bytes_total", with(map[string]string{"device": "sda"}), dto.MetricType_COUNTER, 4096},
		{"lxd_disk_writes_completed_total", with(map[string]string{"device": "sda"}), dto.MetricType_COUNTER, 2},
		{"lxd_filesystem_avail_bytes", with(map[string]string{"mountpoint": "/a \"b\"\\\nc", "fstype": "btrfs"}), dto.MetricType_GAUGE, 400},
		{"lxd_network_receive_bytes_total", with(map[string]string{"device": "eth0"}), dto.MetricType_COUNTER, 1000},
		{"lxd_network_transmit_packets_total", with(map[string]string{"device": "eth0"}), dto.MetricType_COUNTER, 20},
		{"lxd_network_receive_errs_total", with(map[string]string{"device": "eth0"}), dto.MetricType_COUNTER, 1},
		{"lxd_network_transmit_drop_total", with(map[string]string{"device": "eth0"}), dto.MetricType_COUNTER, 3},
		{"lxd_procs_total", c2, dto.MetricType_GAUGE, 7},
	}
	for _, c := range checks {
		if fams[c.name].GetType() != c.typ {
			t.Errorf("%s is a %v, want %v", c.name, fams[c.name].GetType(), c.typ)
		}
		if got := value(find(t, fams, c.name, c.labels)); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams["lxd_procs_total"].GetMetric()); n != 2 {
		t.Errorf("lxd_procs_total has %d samples, want one per instance", n)
	}
	if _, ok := fams["lxd_memory_unknown_entry_bytes"]; ok {
		t.Error("an entry LXD does not report became a metric")
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("# EOF\n")) {
		t.Error("the output does not end with # EOF, as LXD's does")
	}
}

func TestEmptySetIsValid(t *testing.T) {
	var s Set
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if len(parse(t, buf.Bytes())) != 0 || buf.String() != "# EOF\n" {
		t.Errorf("an empty set wrote %q", buf.String())
	}
}
