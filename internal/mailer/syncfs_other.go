//go:build !linux

package mailer

// haveSyncFS: without syncfs(2), each file of a batch is synced on its own.
const haveSyncFS = false

// syncFS has nothing to do: the files were synced as they were written.
func (t *FileTransport) syncFS() error { return nil }
