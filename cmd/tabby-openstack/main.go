package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT and SIGTERM cancel the context: the sync stops between two
	// writes and run returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// env is what a command reads from and writes to the process, passed
// explicitly so that tests run the command in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// run executes one command line until it finishes or ctx is done, and
// returns the process exit status.
func run(ctx context.Context, args []string, e env) int {
	root := newRootCommand(e)
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil || (errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return 0
	}
	fmt.Fprintln(e.stderr, "Error:", err)
	return 1
}
