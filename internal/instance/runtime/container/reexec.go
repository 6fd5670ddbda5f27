package container

import (
	"fmt"
	"os"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // the C half of container start and exec

	"github.com/lodge-project/lodge/internal/console"
)

// Reexec runs the role lodged's binary was re-executed for, if any, and
// says whether it was one: libcontainer's init (a container's first
// process) or a console keeper. Any binary that starts containers with
// this driver calls it first thing in main (lodged, and the conformance
// test's TestMain).
func Reexec(args []string) bool {
	if len(args) < 2 {
		return false
	}
	switch args[1] {
	case "init":
		libcontainer.Init()
		return true
	case "console-keeper":
		if err := console.RunKeeper(args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "console-keeper:", err)
			os.Exit(1)
		}
		return true
	}
	return false
}
