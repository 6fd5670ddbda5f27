package test

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestDebugAddress: --debug-address serves Go's profiles of the running
// daemon; a bad address stops lodged with a message naming the flag.
func TestDebugAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := startDaemon(t, "--debug-address", addr)
	d.MustLodge("list")

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	if index := get("/debug/pprof/"); !strings.Contains(index, "goroutine") || !strings.Contains(index, "heap") {
		t.Fatalf("profile index: %q", index)
	}
	if stacks := get("/debug/pprof/goroutine?debug=1"); !strings.Contains(stacks, "internal/daemon") {
		t.Fatalf("goroutine profile shows no daemon code: %.300q", stacks)
	}

	out, err := exec.Command(lodgedBin, "--dir", t.TempDir(), "--debug-address", "not-an-address").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--debug-address") {
		t.Fatalf("bad --debug-address: %v %s", err, out)
	}
}
