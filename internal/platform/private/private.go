// Package private keeps what EventPost writes to disk readable by its owner only: the data
// directory, the database files (the auth database holds the access-token signing key) and
// the mail files. Modes are set explicitly, so the process umask cannot widen them, and an
// existing file or directory open to other users is tightened, which is logged.
package private

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The modes of what EventPost keeps on disk.
const (
	// DirMode is the mode of the data directory and of the directories under it.
	DirMode fs.FileMode = 0o700
	// FileMode is the mode of database and mail files.
	FileMode fs.FileMode = 0o600
)

// MkdirAll creates dir, and any missing parent, readable by its owner only, and makes dir
// itself DirMode whatever the umask. An existing dir with another mode is changed to DirMode
// (logged when it was open to other users). When that is not allowed (dir belongs to another
// user, as a mounted volume may), a dir that other users may only read is used with a
// warning, since the files EventPost creates in it are private anyway; one that they may
// write to is an error, since they could replace those files.
func MkdirAll(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("create directory %s: not a directory", dir)
	}
	if err := setMode(dir, fi.Mode(), DirMode, log); err != nil {
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("directory %s is writable by other users (mode %s) and cannot be made private: %w",
				dir, octal(fi.Mode()), err)
		}
		logger(log).Warn("cannot make a directory private; the files in it stay private",
			"path", dir, "mode", octal(fi.Mode()), "err", err)
	}
	return nil
}

// CreateFile creates the regular file path empty, with mode FileMode whatever the umask,
// unless it exists; an existing file with another mode is changed to FileMode (logged when
// it was open to other users). A file that exists but whose mode cannot be changed is an
// error.
func CreateFile(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return fmt.Errorf("create file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("create file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("create file %s: not a regular file", path)
	}
	if fi.Mode().Perm() == FileMode {
		return nil
	}
	if err := f.Chmod(FileMode); err != nil {
		return fmt.Errorf("make %s private: %w", path, err)
	}
	logTightened(log, path, fi.Mode(), FileMode)
	return nil
}

// TightenFile changes the mode of the file path to FileMode when it exists with another one
// (logged when it was open to other users). A missing file is not an error.
func TightenFile(path string, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("make %s private: %w", path, err)
	}
	if err := setMode(path, fi.Mode(), FileMode, log); err != nil {
		return fmt.Errorf("make %s private: %w", path, err)
	}
	return nil
}

// TightenFiles changes the mode of every regular file directly in dir that has another
// mode than FileMode to FileMode, and logs how many were open to other users.
func TightenFiles(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("make the files of %s private: %w", dir, err)
	}
	opened := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("make the files of %s private: %w", dir, err)
		}
		if fi.Mode().Perm() == FileMode {
			continue
		}
		if err := os.Chmod(filepath.Join(dir, e.Name()), FileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("make the files of %s private: %w", dir, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			opened++
		}
	}
	if opened > 0 {
		logger(log).Warn("closed files to other users", "dir", dir, "files", opened, "now", octal(FileMode))
	}
	return nil
}

// setMode changes the permission bits of path, whose mode is now cur, to want.
func setMode(path string, cur, want fs.FileMode, log *slog.Logger) error {
	if cur.Perm() == want {
		return nil
	}
	if err := os.Chmod(path, want); err != nil {
		return err
	}
	logTightened(log, path, cur, want)
	return nil
}

// logTightened logs a mode change that closed a file or directory to other users.
func logTightened(log *slog.Logger, path string, was, now fs.FileMode) {
	if was.Perm()&0o077 == 0 {
		return
	}
	logger(log).Warn("closed a file or directory to other users", "path", path,
		"was", octal(was), "now", octal(now))
}

// octal returns the permission bits of mode as chmod takes them, such as "0600".
func octal(mode fs.FileMode) string { return fmt.Sprintf("%04o", mode.Perm()) }

func logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
