package mailer

import (
	"os"

	"golang.org/x/sys/unix"
)

// haveSyncFS: syncFS flushes every file of the mail directory's file system at once.
const haveSyncFS = true

// syncFS flushes the file system the mail directory is on to the disk: every file written
// to it (syncfs(2)).
func (t *FileTransport) syncFS() error {
	d, err := os.Open(t.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
