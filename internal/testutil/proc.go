package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago, for a process started
// by the test that must be told its port up front.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// BuildMain builds the main package in the current directory into a temporary directory, for
// process-level tests (call it from TestMain). cleanup removes the binary.
func BuildMain(name string) (binary string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", name+"-test")
	if err != nil {
		return "", nil, err
	}
	binary = filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build %s: %w\n%s", name, err, out)
	}
	return binary, func() { os.RemoveAll(dir) }, nil
}
