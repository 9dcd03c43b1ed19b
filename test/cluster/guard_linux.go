package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
)

// parentPIDEnv names the process that must outlive this one. When it is set, the kernel kills
// this process as soon as that parent dies, however the parent died (even by SIGKILL), so a
// crashed test run leaves no control plane behind.
const parentPIDEnv = "KUBE_PARENT_PID"

func init() {
	// The parent-death signal is kept across execve only by the thread that set it: keep the
	// main goroutine on the thread guardParentDeath and execProgram run on.
	runtime.LockOSThread()
}

func guardParentDeath() {
	want := os.Getenv(parentPIDEnv)
	if want == "" {
		return
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "prctl(PR_SET_PDEATHSIG): %v\n", errno)
		os.Exit(1)
	}
	// The parent may have died before the signal was armed.
	if strconv.Itoa(os.Getppid()) != want {
		os.Exit(1)
	}
}

// execProgram replaces this process with another program (kwok, for one), which keeps the
// parent-death signal armed by guardParentDeath.
func execProgram() int {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube exec PROGRAM [args...]")
		return 2
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "exec: %v\n", err)
		return 127
	}
	err = syscall.Exec(path, os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "exec %s: %v\n", path, err)
	return 126
}
