//go:build !linux

package gateway

import "syscall"

// childAttr puts a demo child in its own process group (no parent-death
// signal outside Linux).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
