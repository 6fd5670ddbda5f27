package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// imageVariant writes a copy of a gzipped image tarball with another
// fingerprint, for first-launch figures: an extra gzip member holding two
// more tar end blocks, named uniquely. tar reads the same archive from it.
func imageVariant(src string, n int) (string, error) {
	dst := filepath.Join(root, fmt.Sprintf("variant-%d-%s", n, filepath.Base(src)))
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return "", err
	}
	zw := gzip.NewWriter(out)
	zw.Name = fmt.Sprintf("lodgebench-variant-%d", n)
	if _, err := zw.Write(make([]byte, 1024)); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return dst, out.Close()
}

// memUsedMiB is the host's memory in use (MemTotal - MemAvailable).
func memUsedMiB() float64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var total, avail float64
	for _, line := range splitLines(string(data)) {
		var v float64
		if _, err := fmt.Sscanf(line, "MemTotal: %f kB", &v); err == nil {
			total = v
		}
		if _, err := fmt.Sscanf(line, "MemAvailable: %f kB", &v); err == nil {
			avail = v
		}
	}
	return (total - avail) / 1024
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

// settleDisks writes back what the setup before a figure left dirty, so
// that its writeback does not land in the measured runs of whichever
// daemon comes first (Lodge unpacks an imported image at once, LXD at its
// first use: the same setup leaves each a different amount to write).
func settleDisks() { _ = exec.Command("sync").Run() }

// dropCaches writes back and drops clean caches so memory figures start level.
func dropCaches() {
	_ = exec.Command("sync").Run()
	_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
}
