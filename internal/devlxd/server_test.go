package devlxd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/event"
)

// fakeSource is one instance whose init is pid (this test process, so
// that the test's requests come from "inside" it).
type fakeSource struct {
	info Info
	pid  int
}

func (f *fakeSource) DevLXDInfo(key string) (Info, error) {
	if key != "c1" {
		return Info{}, errors.New("no such instance")
	}
	return f.info, nil
}
func (f *fakeSource) InitPID(string) int { return f.pid }

func start(t *testing.T, src *fakeSource) (*Server, *http.Client, string) {
	t.Helper()
	bus := event.NewBus()
	s := NewServer(t.TempDir(), src, nil, bus, slog.New(slog.NewTextHandler(io.Discard, nil)))
	dir, err := s.Start("c1", "c1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop("c1") })
	sock := filepath.Join(dir, "sock")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	return s, c, sock
}

func get(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	resp, err := c.Get("http://devlxd" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestGuestAPI(t *testing.T) {
	src := &fakeSource{pid: os.Getpid(), info: Info{Name: "c1", Type: "container", CloudInitID: "id-1",
		Config:  map[string]string{"user.a": "1", "cloud-init.user-data": "#cloud-config\n{}", "limits.memory": "1GiB", "user.meta-data": "extra: x"},
		Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}}}}
	_, c, _ := start(t, src)

	if st, body := get(t, c, "/"); st != 200 || strings.TrimSpace(body) != `["/1.0"]` {
		t.Errorf("GET /: %d %s", st, body)
	}
	var info api.DevLXDGet
	if st, body := get(t, c, "/1.0"); st != 200 || json.Unmarshal([]byte(body), &info) != nil || info.APIVersion != "1.0" || info.InstanceType != "container" {
		t.Errorf("GET /1.0: %d %s", st, body)
	}
	var keys []string
	st, body := get(t, c, "/1.0/config")
	_ = json.Unmarshal([]byte(body), &keys)
	sort.Strings(keys)
	if st != 200 || strings.Join(keys, " ") != "/1.0/config/cloud-init.user-data /1.0/config/user.a /1.0/config/user.meta-data" {
		t.Errorf("GET /1.0/config: %d %v", st, keys)
	}
	if st, body := get(t, c, "/1.0/config/user.a"); st != 200 || body != "1" {
		t.Errorf("user.a: %d %q", st, body)
	}
	if st, _ := get(t, c, "/1.0/config/limits.memory"); st != 403 {
		t.Errorf("limits.memory: %d, want 403", st)
	}
	if st, _ := get(t, c, "/1.0/config/user.nope"); st != 404 {
		t.Errorf("a missing key: %d, want 404", st)
	}
	if st, body := get(t, c, "/1.0/meta-data"); st != 200 || body != "#cloud-config\ninstance-id: id-1\nlocal-hostname: c1\nextra: x" {
		t.Errorf("meta-data: %d %q", st, body)
	}
	if st, body := get(t, c, "/1.0/devices"); st != 200 || !strings.Contains(body, `"pool":"default"`) {
		t.Errorf("devices: %d %s", st, body)
	}

	src.info.Config["security.devlxd"] = "false"
	if st, _ := get(t, c, "/1.0/config"); st != 403 {
		t.Errorf("with security.devlxd=false: %d, want 403", st)
	}
}

// A peer in another PID namespace than the instance's init is refused:
// here the "instance" is pid 1 of a fresh PID namespace, and the test
// process, on the host, asks.
func TestHostProcessesAreRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	cmd := newPIDNamespace(t)
	src := &fakeSource{pid: cmd.Process.Pid, info: Info{Name: "c1", Type: "container", Config: map[string]string{"user.a": "1"}}}
	_, c, _ := start(t, src)
	if st, _ := get(t, c, "/1.0/config/user.a"); st != 403 {
		t.Fatalf("a host process read the instance's config: %d", st)
	}
}

func TestEventsOfConfigAndDevices(t *testing.T) {
	src := &fakeSource{pid: os.Getpid(), info: Info{Name: "c1", Type: "container",
		Config: map[string]string{"user.a": "1"}, Devices: map[string]map[string]string{}}}
	s, _, sock := start(t, src)
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "unix", sock)
	}}
	conn, _, err := d.Dial("ws://devlxd/1.0/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(100 * time.Millisecond) // subscribed
	src.info = Info{Name: "c1", Type: "container", Config: map[string]string{"user.a": "2", "limits.cpu": "1"},
		Devices: map[string]map[string]string{"kvm": {"type": "unix-char", "path": "/dev/kvm"}}}
	s.bus.Lifecycle("instance-updated", "/1.0/instances/c1", nil)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := map[string]string{}
	for len(got) < 2 {
		var ev struct {
			Type     string         `json:"type"`
			Metadata map[string]any `json:"metadata"`
		}
		if err := conn.ReadJSON(&ev); err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		data, _ := json.Marshal(ev.Metadata)
		got[ev.Type] = string(data)
	}
	if got["config"] != `{"key":"user.a","old_value":"1","value":"2"}` {
		t.Errorf("config event: %s", got["config"])
	}
	if !strings.Contains(got["device"], `"action":"added"`) || !strings.Contains(got["device"], `"name":"kvm"`) {
		t.Errorf("device event: %s", got["device"])
	}
}
