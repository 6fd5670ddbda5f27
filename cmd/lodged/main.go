// lodged is Lodge's daemon.
package main

import (
	"fmt"
	"os"

	"github.com/lodge-project/lodge/internal/instance/runtime/container"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/server"
)

func main() {
	// libcontainer re-executes lodged as a container's first process,
	// and lodged itself as a console keeper.
	if container.Reexec(os.Args) {
		return
	}
	// And as the sandbox of a migration's rsync, and its remote shell.
	if migration.Reexec(os.Args) {
		return
	}
	if err := server.Main(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lodged:", err)
		os.Exit(1)
	}
}
