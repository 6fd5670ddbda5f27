package decompress

import (
	"bytes"
	"compress/gzip"
	"os/exec"
	"strings"
	"testing"
)

// The gzip command must round-trip a stream, concatenated members
// included, and fail on a truncated one.
func TestGzipCommand(t *testing.T) {
	var z bytes.Buffer
	for _, part := range []string{"first member\n", strings.Repeat("second member ", 10000)} {
		w := gzip.NewWriter(&z)
		_, _ = w.Write([]byte(part))
		_ = w.Close()
	}
	want := "first member\n" + strings.Repeat("second member ", 10000)
	argv := Command(z.Bytes())
	run := func(in []byte) (string, error) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		return string(out), err
	}
	got, err := run(z.Bytes())
	if err != nil || got != want {
		t.Fatalf("%v: got %d bytes, err %v; want %d bytes", argv, len(got), err, len(want))
	}
	if _, err := run(z.Bytes()[:z.Len()-20]); err == nil {
		t.Fatalf("%v: a truncated stream decompressed without error", argv)
	}
}

func TestCommandByMagic(t *testing.T) {
	for head, want := range map[string]string{
		"\x1f\x8b\x08":              "gzip",
		"\xfd7zXZ\x00":              "xz",
		"\x28\xb5\x2f\xfd":          "zstd",
		"BZh9":                      "bzip2",
		"metadata.yaml\x00\x00\x00": "",
	} {
		argv := Command([]byte(head))
		switch {
		case want == "" && argv != nil:
			t.Errorf("%q: %v, want none", head, argv)
		case want != "" && (argv == nil || !strings.Contains(argv[0], want)):
			t.Errorf("%q: %v, want %s", head, argv, want)
		}
	}
	if f := GzipTarFlag(); f != "-z" && !strings.HasPrefix(f, "--use-compress-program=") {
		t.Fatalf("GzipTarFlag = %q", f)
	}
}
