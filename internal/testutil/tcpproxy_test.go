package testutil

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoServer answers every line with the same line; it stops when t ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c); _ = c.Close() })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

type lineConn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *lineConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &lineConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *lineConn) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// recv reads one line within d.
func (c *lineConn) recv(d time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	s, err := c.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func (c *lineConn) roundTrip(t *testing.T, line string) {
	t.Helper()
	c.send(t, line)
	got, err := c.recv(10 * time.Second)
	if err != nil || got != line {
		t.Fatalf("echo of %q: %q, %v", line, got, err)
	}
}

// silence is how long a blackholed connection is watched for an answer that must not come:
// the absence of bytes can only be observed over some time.
const silence = 100 * time.Millisecond

func TestTCPProxyForwards(t *testing.T) {
	p := NewTCPProxy(t, echoServer(t))
	a, b := dial(t, p.Addr()), dial(t, p.Addr())
	a.roundTrip(t, "hello")
	b.roundTrip(t, strings.Repeat("x", 200_000)) // larger than one pump buffer
	a.roundTrip(t, "again")
	if n := p.Conns(); n != 2 {
		t.Fatalf("Conns = %d, want 2", n)
	}
}

func TestTCPProxyBlackholeAndResume(t *testing.T) {
	p := NewTCPProxy(t, echoServer(t))
	old := dial(t, p.Addr())
	old.roundTrip(t, "before")

	p.Blackhole()
	p.Blackhole() // idempotent
	old.send(t, "held-1")
	if s, err := old.recv(silence); !isTimeout(err) {
		t.Fatalf("blackholed connection answered %q, %v", s, err)
	}
	// New connections are still accepted, and hang too.
	fresh := dial(t, p.Addr())
	fresh.send(t, "held-2")
	if s, err := fresh.recv(silence); !isTimeout(err) {
		t.Fatalf("new connection through the blackhole answered %q, %v", s, err)
	}

	p.Resume()
	p.Resume() // idempotent
	// What was held is delivered: the streams are intact.
	for _, c := range []struct {
		conn *lineConn
		want string
	}{{old, "held-1"}, {fresh, "held-2"}} {
		if got, err := c.conn.recv(10 * time.Second); err != nil || got != c.want {
			t.Fatalf("after Resume: %q, %v; want %q", got, err, c.want)
		}
	}
	old.roundTrip(t, "after")
	fresh.roundTrip(t, "after")
}

func TestTCPProxyCloseAll(t *testing.T) {
	p := NewTCPProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	c.roundTrip(t, "x")
	p.CloseAll()
	if _, err := c.recv(10 * time.Second); err == nil || isTimeout(err) {
		t.Fatalf("read after CloseAll: %v, want a reset or EOF", err)
	}
	// The proxy keeps serving new connections.
	dial(t, p.Addr()).roundTrip(t, "y")
}

func TestTCPProxyCloseAllWhileBlackholed(t *testing.T) {
	p := NewTCPProxy(t, echoServer(t))
	p.Blackhole()
	c := dial(t, p.Addr())
	c.send(t, "never")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitConns(ctx, 1); err != nil {
		t.Fatal(err)
	}
	p.CloseAll()
	if _, err := c.recv(10 * time.Second); err == nil || isTimeout(err) {
		t.Fatalf("read after CloseAll: %v, want a reset or EOF", err)
	}
}

func TestTCPProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	p := NewTCPProxy(t, target)
	c := dial(t, p.Addr())
	if _, err := c.recv(10 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("read with the target down: %v, want EOF", err)
	}
}

func TestTCPProxyClose(t *testing.T) {
	p := NewTCPProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	c.roundTrip(t, "x")
	p.Blackhole()
	held := dial(t, p.Addr()) // waiting at the gate when Close comes
	held.send(t, "y")
	p.Close()
	p.Close() // idempotent
	if _, err := c.recv(10 * time.Second); err == nil || isTimeout(err) {
		t.Fatalf("read after Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatal("proxy still accepts after Close")
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
