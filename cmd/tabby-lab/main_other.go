//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "tabby-lab: the lab is made of Linux network namespaces; it runs on Linux only")
	os.Exit(2)
}
