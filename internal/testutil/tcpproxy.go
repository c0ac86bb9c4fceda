package testutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// TCPProxy forwards TCP connections from 127.0.0.1:<random port> to a target address and can
// fail like a network does: Blackhole stops forwarding while connections stay open (the peers
// hang, as behind a dropped route), CloseAll resets every connection. Every goroutine it starts
// ends by Close.
type TCPProxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // accept loop and connection handlers

	mu      sync.Mutex
	open    chan struct{}           // guarded by mu: closed while forwarding, open while blackholed
	conns   map[*proxyConn]struct{} // guarded by mu
	changed chan struct{}           // guarded by mu: closed and replaced when conns changes
	closed  bool                    // guarded by mu
}

// NewTCPProxy listens on 127.0.0.1:0 in front of target (host:port) and closes when tb ends.
func NewTCPProxy(tb testing.TB, target string) *TCPProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &TCPProxy{target: target, ln: ln, open: make(chan struct{}), conns: map[*proxyConn]struct{}{}, changed: make(chan struct{})}
	close(p.open)
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Addr is the host:port clients connect to.
func (p *TCPProxy) Addr() string { return p.ln.Addr().String() }

// Blackhole stops forwarding in both directions. Connections, old and new, stay open and
// accepted, but bytes sent are held (at most one buffer per direction, then TCP backpressure)
// and nothing is answered. Resume delivers what was held.
func (p *TCPProxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // already blackholed
	}
}

// Resume forwards again, starting with what was held while blackholed.
func (p *TCPProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// CloseAll resets every open connection on both sides (RST, not FIN). New connections are
// still accepted.
func (p *TCPProxy) CloseAll() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close(true)
	}
}

// Conns is the number of client connections currently open through the proxy.
func (p *TCPProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// WaitConns waits until n client connections are open through the proxy. A client's dial
// returns once the kernel has the connection, before the proxy has accepted it; a test that
// acts on connections (CloseAll) waits here first so the new one is among them.
func (p *TCPProxy) WaitConns(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		got, changed := len(p.conns), p.changed
		p.mu.Unlock()
		if got == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d proxied connections, have %d: %w", n, got, ctx.Err())
		}
	}
}

// notifyLocked wakes WaitConns; p.mu is held.
func (p *TCPProxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Close stops accepting, resets every connection and waits for all goroutines. Idempotent.
func (p *TCPProxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.CloseAll()
	p.wg.Wait()
}

func (p *TCPProxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		ctx, cancel := context.WithCancel(context.Background())
		c := &proxyConn{client: conn, ctx: ctx, cancel: cancel}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = conn.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.notifyLocked()
		p.wg.Add(1)
		p.mu.Unlock()
		go p.handle(c)
	}
}

// gate returns false if c closed before forwarding was allowed.
func (p *TCPProxy) gate(c *proxyConn) bool {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// handle dials the target once forwarding is allowed, then pumps both directions.
func (p *TCPProxy) handle(c *proxyConn) {
	defer p.wg.Done()
	defer func() {
		c.close(false)
		p.mu.Lock()
		delete(p.conns, c)
		p.notifyLocked()
		p.mu.Unlock()
	}()
	if !p.gate(c) {
		return
	}
	var d net.Dialer
	up, err := d.DialContext(c.ctx, "tcp", p.target) // abandoned when c closes
	if err != nil {
		return
	}
	if !c.setUpstream(up) {
		return
	}
	var pumps sync.WaitGroup
	pumps.Go(func() { p.pump(c, up, c.client) })
	p.pump(c, c.client, up)
	pumps.Wait()
}

// pump copies src to dst, holding each chunk while the proxy is blackholed.
func (p *TCPProxy) pump(c *proxyConn, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate(c) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				c.close(false)
				return
			}
		}
		if errors.Is(err, io.EOF) {
			// Pass the half-close on; the other direction may still be talking.
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
		if err != nil {
			c.close(false)
			return
		}
	}
}

// proxyConn is one client connection and, once dialed, its upstream.
type proxyConn struct {
	client net.Conn
	ctx    context.Context // ends when c closes
	cancel context.CancelFunc

	mu       sync.Mutex
	upstream net.Conn // guarded by mu
	closed   bool     // guarded by mu
}

// setUpstream records up, or closes it and returns false when c is already closed.
func (c *proxyConn) setUpstream(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = up.Close()
		return false
	}
	c.upstream = up
	return true
}

// close closes both sides once; reset sends RST instead of FIN.
func (c *proxyConn) close(reset bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.cancel()
	for _, conn := range []net.Conn{c.client, c.upstream} {
		if conn == nil {
			continue
		}
		if tc, ok := conn.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}
}
