package gateway

import "syscall"

// childAttr puts a demo child in its own process group and has the kernel
// send it SIGTERM if the gateway dies without stopping it (a second
// Ctrl-C, a kill -9): no provider or Rails is left holding the demo ports.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
