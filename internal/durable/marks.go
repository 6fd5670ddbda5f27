package durable

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Marks say that something was made without waiting for the disk, and
// is written back later: a mark names the boot it was made in, so that
// start-up knows whether the page cache still holds what was written (the
// same boot: write it back) or the host went down first (check it, or
// make it again). A nonce in it lets a writeback end only its own mark.

// Mark writes the mark at path, durably (its name too), and returns what
// it holds.
func Mark(path string) (string, error) {
	boot, err := BootID()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	mark := boot + " " + hex.EncodeToString(nonce) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(mark)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = Dir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("write mark %s: %w", path, err)
	}
	return mark, nil
}

// ThisBoot says whether mark (what Mark wrote) was made in the running
// boot.
func ThisBoot(mark string) (bool, error) {
	boot, err := BootID()
	if err != nil {
		return false, err
	}
	return strings.HasPrefix(mark, boot+" "), nil
}

// Unmark removes the mark at path if it still holds mark ("" takes any:
// a mark made again meanwhile belongs to a writeback of its own), then
// syncs its folder.
func Unmark(path, mark string) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if mark != "" && string(got) != mark {
		return nil
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	return Dir(filepath.Dir(path))
}
