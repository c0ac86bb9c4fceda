package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Resolver lists the endpoints of a source. An error, or an empty list, leaves the balancer's
// current endpoints in place.
type Resolver interface {
	Resolve(ctx context.Context) ([]EndpointSpec, error)
}

// Watcher is a Resolver that can tell when its source changed. Watch puts the watch in place
// before it returns, so that no change made after it is missed, and returns run, which
// reports changes by calling changed (it does not block) until ctx ends.
type Watcher interface {
	Watch(changed func()) (run func(ctx context.Context), err error)
}

// ErrNoEndpoints is returned when a source lists no endpoint, or a call finds none.
var ErrNoEndpoints = errors.New("lb: no endpoints")

// StaticResolver is a fixed list.
type StaticResolver []EndpointSpec

func (r StaticResolver) Resolve(context.Context) ([]EndpointSpec, error) {
	return slices.Clone(r), nil
}

// DNSLookuper is the part of *net.Resolver the DNS resolver uses.
type DNSLookuper interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// DNSResolver resolves a name to endpoints: every A/AAAA address with the port, or every SRV
// target:port weighted by its SRV weight (SRV priorities are not used: all targets share the
// load and fail over to each other).
type DNSResolver struct {
	Name   string
	Port   int
	SRV    bool
	Lookup DNSLookuper
}

func (r *DNSResolver) Resolve(ctx context.Context) ([]EndpointSpec, error) {
	if r.SRV {
		return r.resolveSRV(ctx)
	}
	host, port, err := splitNamePort(r.Name, r.Port)
	if err != nil {
		return nil, err
	}
	addrs, err := r.Lookup.LookupHost(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("lb: resolve %s: %w", host, err)
	}
	specs := make([]EndpointSpec, 0, len(addrs))
	for _, a := range addrs {
		specs = append(specs, EndpointSpec{Address: net.JoinHostPort(a, port)})
	}
	return specs, nil
}

func (r *DNSResolver) resolveSRV(ctx context.Context) ([]EndpointSpec, error) {
	_, recs, err := r.Lookup.LookupSRV(ctx, "", "", r.Name)
	if err != nil {
		return nil, fmt.Errorf("lb: resolve SRV %s: %w", r.Name, err)
	}
	specs := make([]EndpointSpec, 0, len(recs))
	for _, rec := range recs {
		if rec == nil || rec.Port == 0 {
			continue
		}
		host := strings.TrimSuffix(rec.Target, ".")
		if host == "" {
			continue
		}
		specs = append(specs, EndpointSpec{
			Address: net.JoinHostPort(host, strconv.Itoa(int(rec.Port))),
			Weight:  min(int(rec.Weight), MaxWeight),
		})
	}
	return specs, nil
}

// splitNamePort splits "host:port", or takes port when name has none.
func splitNamePort(name string, port int) (host, p string, err error) {
	if h, pp, err := net.SplitHostPort(name); err == nil {
		if h == "" {
			return "", "", fmt.Errorf("%q: missing host", name)
		}
		if n, err := strconv.Atoi(pp); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("%q: port must be a number within [1, 65535]", name)
		}
		return h, pp, nil
	}
	if name == "" {
		return "", "", errors.New("missing host")
	}
	if port < 1 || port > 65535 {
		return "", "", fmt.Errorf("%q has no port: write host:port or set port", name)
	}
	return name, strconv.Itoa(port), nil
}
