// Package app wires EventPost's services together: the all-in-one mode, which runs the gateway
// and every service in one process on embedded backends, and the command line that selects it.
package app

import (
	"context"
	"fmt"
	"io"

	"github.com/eventpost/eventpost/internal/platform/logging"
)

const usage = `usage: eventpost [command]

commands:
  all-in-one   run the gateway and every service in one process (the default)
  help         show this text

Configuration comes from the environment; see README.md.
`

// Run runs the command named by args with the environment getenv, writing logs to stdout.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "all-in-one"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "all-in-one":
		cfg, err := ReadConfig(getenv)
		if err != nil {
			return err
		}
		log := logging.New(stdout, cfg.LogLevel)
		sys, err := Start(ctx, cfg, log)
		if err != nil {
			return err
		}
		log.Info("EventPost is running", "url", sys.URL, "data_dir", cfg.DataDir)
		err = sys.Wait()
		log.Info("EventPost stopped", "err", err)
		return err
	case "help", "-h", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}
