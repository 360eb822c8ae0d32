package plugin

import (
	"io/fs"
	"syscall"
)

// inode is the file's inode number (0 where the platform has none): a
// file replaced by a rename keeps size and time but not its inode.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
