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
	// SIGINT and SIGTERM cancel the context: the servers stop and run
	// returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// env is what the command reads from and writes to the process, passed
// explicitly so that tests run it in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// ready, when set, is called once the servers listen, with their
	// addresses (tests use it to find ports chosen by the kernel).
	ready func(addrs listenAddrs)
}

// listenAddrs are the addresses the servers actually listen on.
type listenAddrs struct {
	grpc, forwardAuth, metrics string
}

// run executes one command line until it finishes or ctx is done, and
// returns the process exit status.
func run(ctx context.Context, args []string, e env) int {
	root := newRootCommand(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var usage *usageError
	if errors.As(err, &usage) {
		fmt.Fprintln(e.stderr, "Error:", err)
		fmt.Fprintln(e.stderr, "Run 'tabby-authz --help' for usage.")
		return 2
	}
	fmt.Fprintln(e.stderr, "Error:", err)
	return 1
}

// usageError is a command line the command cannot act on.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
