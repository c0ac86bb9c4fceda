package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/config"
)

// Check finds what start-up would reject in cfg without starting anything: it builds every
// exporter, processor and receiver (which reads TLS certificates and keys, checks that they
// match, and reads CA and token files) and checks that no two listeners share an address.
// --check-config runs it.
func Check(cfg *config.Config) error {
	s, err := New(cfg, Settings{})
	if err != nil {
		return errors.Join(err, listenClashes(cfg), cfg.Admin.CheckFiles())
	}
	err = errors.Join(s.checkReceivers(cfg, s.graph, sortedNames(cfg.Receivers)), cfg.Admin.CheckFiles())
	// Nothing was started: shutting down only releases what building took.
	ctx := context.Background()
	_ = s.graph.shutdown(ctx, nil)
	_ = s.Shutdown(ctx)
	return err
}

// listenClashes reports listeners of cfg that would bind the same address: equal ports on the
// same host, or on hosts of which one is every interface.
func listenClashes(cfg *config.Config) error {
	type listener struct{ key, host, port string }
	var ls []listener
	add := func(key, ep string) {
		if ep == "" {
			return
		}
		host, port, err := net.SplitHostPort(ep)
		if err != nil || port == "0" {
			return // unparsable ones are reported by validation; port 0 never clashes
		}
		ls = append(ls, listener{key, normalHost(host), port})
	}
	add("admin.endpoint", cfg.Admin.Endpoint)
	for _, name := range sortedNames(cfg.Receivers) {
		if l, ok := cfg.Receivers[name].Config.(component.Listener); ok {
			for _, ep := range l.Endpoints() {
				add("receivers."+name+"."+ep.Key, *ep.Addr)
			}
		}
	}
	var clashes []string
	for i := range ls {
		for j := i + 1; j < len(ls); j++ {
			a, b := ls[i], ls[j]
			if a.port == b.port && (a.host == b.host || a.host == "" || b.host == "") {
				clashes = append(clashes, fmt.Sprintf("%s and %s both listen on port %s", a.key, b.key, a.port))
			}
		}
	}
	if len(clashes) == 0 {
		return nil
	}
	sort.Strings(clashes)
	return fmt.Errorf("listen addresses clash: %s", strings.Join(clashes, "; "))
}

// normalHost maps the spellings of every interface to "" and of the loopback to one name.
func normalHost(h string) string {
	switch h {
	case "", "0.0.0.0", "::", "[::]":
		return ""
	case "localhost", "127.0.0.1", "::1":
		return "localhost"
	}
	return h
}
