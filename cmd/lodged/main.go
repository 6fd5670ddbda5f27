// lodged is Lodge's daemon.
package main

import (
	"fmt"
	"os"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // the C half of container start and exec

	"github.com/lodge-project/lodge/internal/console"
	"github.com/lodge-project/lodge/internal/server"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			// libcontainer re-executes lodged as the container's first process.
			libcontainer.Init()
			return
		case "console-keeper":
			if err := console.RunKeeper(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "console-keeper:", err)
				os.Exit(1)
			}
			return
		}
	}
	if err := server.Main(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lodged:", err)
		os.Exit(1)
	}
}
