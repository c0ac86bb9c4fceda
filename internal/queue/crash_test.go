package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	crashChildEnv  = "OTLP_QUEUE_CRASH_CHILD"
	crashStartEnv  = "OTLP_QUEUE_CRASH_START"
	crashItemBytes = 2000
)

// crashChild is the process TestCrashKill9 kills: it puts numbered items, printing "put N"
// once Put returned nil, while a consumer acks some of the items it gets (printing "ack N"
// first) and leaves the others in flight. Lines are written unbuffered, so the parent has them all after the kill.
func crashChild(dir string) {
	start, _ := strconv.Atoi(os.Getenv(crashStartEnv))
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 10
	cfg.MaxDiskBytes = 256 << 20
	q, err := Open(dir, cfg, Settings{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	go func() {
		for {
			d, err := q.Get(context.Background())
			if err != nil {
				return
			}
			n := int(le.Uint32(d.Body))
			// The first round holds most items (redelivery), the later ones few (most
			// segments drain and their files are recycled).
			if (start == 0 && n%3 == 0) || (start > 0 && n%97 != 0) {
				// Said before acking: killed in between, the parent must count it as maybe acked.
				fmt.Fprintf(os.Stdout, "ack %d\n", n)
				d.Ack()
			}
		}
	}()
	for i := start; i < start+100_000; i++ {
		if err := q.Put(context.Background(), batch(i, crashItemBytes)); err != nil {
			fmt.Fprintln(os.Stderr, "child put:", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stdout, "put %d\n", i)
	}
	os.Exit(0)
}

// TestCrashKill9 kills a process that writes to the queue with SIGKILL at some point, three
// times over on one directory, then checks that every item whose Put returned nil and that
// was not acknowledged is delivered, intact.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	put, acked := map[int]bool{}, map[int]bool{}
	for round := range 3 {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashStartEnv+"="+strconv.Itoa(round*1_000_000))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a varying number of puts, or after a while if the child is slow.
		killAt := 300 + 217*round
		timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
		sc := bufio.NewScanner(out)
		puts := 0
		for sc.Scan() {
			verb, num, _ := strings.Cut(sc.Text(), " ")
			n, err := strconv.Atoi(num)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			switch verb {
			case "put":
				put[n] = true
				if puts++; puts == killAt {
					cmd.Process.Kill() // SIGKILL; the lines already written stay in the pipe
				}
			case "ack":
				acked[n] = true
			}
		}
		timer.Stop()
		err = cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("round %d: child ended with %v (want killed): %s", round, err, stderr.String())
		}
		t.Logf("round %d: killed after %d puts", round, puts)
	}

	recycled := countFiles(t, dir, spareSuffix)
	seqs, _ := listSegments(dir)
	for _, seq := range seqs {
		b, _ := os.ReadFile(filepath.Join(dir, segName(seq)))
		if h, ok, _ := decodeSegHeader(b); ok && h.flags&segRecycled != 0 {
			recycled++
		}
	}
	if recycled == 0 {
		t.Error("no segment file was recycled: the test does not cover recycling")
	}

	q := openT(t, dir, testConfig(), Settings{})
	defer q.Close()
	st := q.Stats()
	t.Logf("after the crashes: %d records, %d corruptions (%d bytes)", st.Records, st.Corruptions, st.CorruptBytes)
	got := map[int]int{}
	for {
		d, ok := poll(q)
		if !ok {
			break
		}
		n := int(le.Uint32(d.Body))
		if !bytes.Equal(d.Body, payload(n, crashItemBytes)) || d.Items != n+1 {
			t.Fatalf("item %d damaged", n)
		}
		got[n]++
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	lost := 0
	for n := range put {
		if !acked[n] && got[n] == 0 {
			lost++
			t.Errorf("item %d: Put returned nil, never acked, not delivered after the crash", n)
		}
	}
	dups := 0
	for n := range got {
		if acked[n] {
			dups++
		}
	}
	t.Logf("%d items put, %d acked, %d delivered after the crashes (%d acked before: duplicates, or acks cut by the kill), %d lost", len(put), len(acked), len(got), dups, lost)
}
