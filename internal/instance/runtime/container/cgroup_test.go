package container

import (
	"path/filepath"
	"regexp"
	"testing"
)

func TestCgroupParentIsTheDaemons(t *testing.T) {
	if got := CgroupParent(DefaultDir); got != "/lodge" {
		t.Errorf("default directory: %q", got)
	}
	other := CgroupParent("/srv/lodge")
	if !regexp.MustCompile(`^/lodge-[0-9a-f]{8}$`).MatchString(other) || other == CgroupParent("/srv/lodge2") {
		t.Errorf("other directories: %q, %q", other, CgroupParent("/srv/lodge2"))
	}
	dir := t.TempDir()
	t.Chdir(dir)
	if CgroupParent("state") != CgroupParent(filepath.Join(dir, "state")) {
		t.Error("a relative directory names another parent than its absolute path")
	}
}
