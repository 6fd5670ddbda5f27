// lodge is Lodge's command line client.
package main

import (
	"os"

	"github.com/lodge-project/lodge/internal/cli"
)

func main() { os.Exit(cli.Execute(os.Args[1:], os.Stdout, os.Stderr)) }
