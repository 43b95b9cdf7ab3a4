//go:build linux

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
	// SIGINT (Ctrl-C) and SIGTERM (tabby-lab down) cancel the context: the
	// running command tears its lab down and returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, runDir: defaultRunDir()}))
}

// env is what a command reads from and writes to the process, passed
// explicitly so that tests run commands in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// runDir is where runs are recorded (testbed.DefaultRunDir).
	runDir string
}

// exitError ends a command that has already reported its problem, with
// the given exit status.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes one tabby-lab command line until it finishes or ctx is
// done, and returns the process exit status.
func run(ctx context.Context, args []string, e env) int {
	root := newRootCommand(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	fmt.Fprintln(e.stderr, "tabby-lab:", err)
	return 2
}
