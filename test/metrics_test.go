package test

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lodge-project/lodge/internal/trust"
)

// scrape GETs path with c and parses the answer with Prometheus's own
// text parser.
func scrape(t *testing.T, c *http.Client, url string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses GET %s: %v\n%s", url, err, body)
	}
	return 200, fams
}

// samplesOf is family name's samples by instance name, each a label set
// and value.
func samplesOf(fams map[string]*dto.MetricFamily, name string) map[string][]map[string]string {
	out := map[string][]map[string]string{}
	for _, m := range fams[name].GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		ls["value"] = fmt.Sprint(m.GetGauge().GetValue() + m.GetCounter().GetValue())
		out[ls["name"]] = append(out[ls["name"]], ls)
	}
	return out
}

func TestMetrics(t *testing.T) {
	d := withBusybox(t)
	d.MustLodge("launch", "busybox", "m1", "-c", "limits.memory=128MiB")
	d.MustLodge("launch", "busybox", "m2")
	d.MustLodge("init", "busybox", "m3") // stopped: no metrics
	// Some work for the counters: a process that stays, files written.
	d.MustLodge("exec", "m1", "--", "sh", "-c", "sleep 300 >/dev/null 2>&1 & dd if=/dev/zero of=/big bs=1M count=4 2>/dev/null; sync")

	st, fams := scrape(t, d.http, "http://lodge/1.0/metrics")
	if st != 200 {
		t.Fatalf("GET /1.0/metrics: %d", st)
	}
	for _, fam := range []string{"lxd_cpu_seconds_total", "lxd_procs_total", "lxd_memory_MemTotal_bytes", "lxd_memory_RSS_bytes",
		"lxd_memory_Cached_bytes", "lxd_filesystem_size_bytes", "lxd_network_receive_bytes_total"} {
		if fams[fam] == nil {
			t.Errorf("no %s", fam)
		}
	}
	if fams["lxd_cpu_seconds_total"].GetType() != dto.MetricType_COUNTER || fams["lxd_procs_total"].GetType() != dto.MetricType_GAUGE {
		t.Errorf("types: cpu %v, procs %v", fams["lxd_cpu_seconds_total"].GetType(), fams["lxd_procs_total"].GetType())
	}
	procs := samplesOf(fams, "lxd_procs_total")
	if len(procs) != 2 || procs["m3"] != nil {
		t.Fatalf("lxd_procs_total is for %v, want m1 and m2 (m3 is stopped)", procs)
	}
	if p := procs["m1"][0]; p["project"] != "default" || p["type"] != "container" || (p["value"] != "2" && p["value"] != "3") {
		t.Errorf("m1's processes: %v (init and sleep run)", p)
	}
	if tot := samplesOf(fams, "lxd_memory_MemTotal_bytes"); tot["m1"][0]["value"] != fmt.Sprint(float64(128<<20)) {
		t.Errorf("m1's MemTotal is %v, want its limit, 128MiB", tot["m1"])
	}
	cpu := samplesOf(fams, "lxd_cpu_seconds_total")["m1"]
	modes := map[string]bool{}
	for _, s := range cpu {
		if s["cpu"] == "" {
			t.Errorf("a CPU sample without its cpu: %v", s)
		}
		modes[s["mode"]] = true
	}
	if !modes["user"] || !modes["system"] {
		t.Errorf("m1's CPU modes: %v", cpu)
	}
	var rootfs map[string]string
	for _, s := range samplesOf(fams, "lxd_filesystem_size_bytes")["m1"] {
		if s["mountpoint"] == "/" {
			rootfs = s
		}
	}
	if rootfs == nil || rootfs["fstype"] == "" || rootfs["device"] == "" || rootfs["value"] == "0" {
		t.Errorf("m1's root filesystem: %v", rootfs)
	}
	lo := false
	for _, s := range samplesOf(fams, "lxd_network_receive_bytes_total")["m2"] {
		lo = lo || s["device"] == "lo"
	}
	if !lo {
		t.Errorf("m2's interfaces in the metrics lack lo: %v", samplesOf(fams, "lxd_network_receive_bytes_total")["m2"])
	}
	written := samplesOf(fams, "lxd_disk_written_bytes_total")["m1"]
	if len(written) == 0 {
		t.Errorf("m1 wrote 4 MiB and synced, and has no disk metrics")
	}

	// ?project= names one project; an unknown one is a 404.
	if st, fams := scrape(t, d.http, "http://lodge/1.0/metrics?project=default"); st != 200 || len(samplesOf(fams, "lxd_procs_total")) != 2 {
		t.Errorf("?project=default: %d", st)
	}
	if st, _ := scrape(t, d.http, "http://lodge/1.0/metrics?project=nope"); st != 404 {
		t.Errorf("?project=nope: %d, want 404", st)
	}

	// Over HTTPS: no certificate, no metrics; a metrics certificate reads
	// them and nothing else; core.metrics_authentication=false opens them.
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.MustLXC("config", "set", "core.https_address", addr)
	dir := t.TempDir()
	cert, err := trust.ClientCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}}
	if st, _ := scrape(t, anon, "https://"+addr+"/1.0/metrics"); st != 403 {
		t.Errorf("untrusted GET /1.0/metrics: %d, want 403", st)
	}
	certFile := filepath.Join(dir, "metrics.crt")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	d.MustLXC("config", "trust", "add", certFile, "--type", "metrics")
	if st, fams := scrape(t, withCert, "https://"+addr+"/1.0/metrics"); st != 200 || len(samplesOf(fams, "lxd_procs_total")) != 2 {
		t.Errorf("GET /1.0/metrics with a metrics certificate: %d", st)
	}
	for _, path := range []string{"/1.0/instances", "/1.0/certificates"} {
		resp, err := withCert.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("GET %s with a metrics certificate: %d, want 403", path, resp.StatusCode)
		}
	}
	if st, _ := scrape(t, anon, "https://"+addr+"/1.0/metrics"); st != 403 {
		t.Errorf("untrusted GET /1.0/metrics: %d", st)
	}
	d.MustLXC("config", "set", "core.metrics_authentication", "false")
	if st, _ := scrape(t, anon, "https://"+addr+"/1.0/metrics"); st != 200 {
		t.Errorf("untrusted GET /1.0/metrics with core.metrics_authentication=false: %d", st)
	}
	resp, err := anon.Get("https://" + addr + "/1.0/instances")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("core.metrics_authentication=false opened GET /1.0/instances: %d", resp.StatusCode)
	}
}
