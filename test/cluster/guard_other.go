//go:build !linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// guardParentDeath has no parent-death signal to arm outside Linux: there, only the test
// helper's own clean-up stops the components.
func guardParentDeath() {}

// execProgram runs another program (kwok, for one) and passes its exit code on.
func execProgram() int {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube exec PROGRAM [args...]")
		return 2
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "exec: %v\n", err)
		return 127
	}
	return 0
}
