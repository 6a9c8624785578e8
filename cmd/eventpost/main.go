// Command eventpost runs EventPost. Without arguments it runs the whole system in one process
// on the embedded defaults (SQLite, in-process broker, mail written to files); see
// `eventpost help` for the subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventpost/eventpost/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "eventpost:", err)
		os.Exit(1)
	}
}
