package daemon

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestExtensionTable keeps the advertised list honest: every name is one of
// LXD 5.0.2's or carries the lodge_ prefix, none is listed twice, and each
// names a test of the repository that exists.
func TestExtensionTable(t *testing.T) {
	data, err := os.ReadFile("testdata/lxd-5.0.2-api-extensions.txt")
	if err != nil {
		t.Fatal(err)
	}
	lxd := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			lxd[line] = true
		}
	}
	if len(lxd) != 318 {
		t.Fatalf("LXD 5.0.2 defines 318 extensions; the list holds %d", len(lxd))
	}
	tests := testFunctions(t, filepath.Join("..", ".."))
	seen := map[string]bool{}
	for _, e := range extensions {
		if seen[e.Name] {
			t.Errorf("%s is listed twice", e.Name)
		}
		seen[e.Name] = true
		if !lxd[e.Name] && !strings.HasPrefix(e.Name, "lodge_") {
			t.Errorf("%s is not an LXD 5.0.2 extension and lacks the lodge_ prefix", e.Name)
		}
		if e.Promise == "" {
			t.Errorf("%s says nothing of what it promises", e.Name)
		}
		if !tests[e.Test] {
			t.Errorf("%s names test %q, which does not exist", e.Name, e.Test)
		}
	}
}

var testFunc = regexp.MustCompile(`(?m)^func (Test\w+)\(`)

// testFunctions finds the names of the test functions under root.
func testFunctions(t *testing.T, root string) map[string]bool {
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllStringSubmatch(string(data), -1) {
			found[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
