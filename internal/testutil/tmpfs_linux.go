package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// tmpfsEnv names, in the child, the directory of the small file system it runs on.
const tmpfsEnv = "OTLP_TEST_TMPFS"

// OnTmpfs runs the calling top-level test again in a mount namespace of its own, on a tmpfs of
// size (a mount option: "1m"), so that it can fill a real file system. In that child it returns
// the tmpfs directory; in the parent it runs the child, fails the test if the child fails, and
// returns "" (the caller then returns). It needs root and unshare: without them the test is
// skipped, or fails when CI=true.
func OnTmpfs(t *testing.T, size string) string {
	t.Helper()
	if dir := os.Getenv(tmpfsEnv); dir != "" {
		return dir
	}
	absent := func(msg string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipping")
	}
	if os.Geteuid() != 0 {
		absent("a small file system of its own needs root (unshare --mount)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		absent("unshare not found")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount -t tmpfs -o "size=$1" tmpfs "$2" && shift 2 && exec "$@"`,
		"sh", size, dir, exe, "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), tmpfsEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("on a %s tmpfs: %v\n%s", size, err, out)
	}
	t.Logf("on a %s tmpfs:\n%s", size, out)
	return ""
}
