package lb

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testEndpoints returns n endpoints "10.0.0.i:4317" with the given weights (default 1),
// without breakers or passive health.
func testEndpoints(n int, weights ...int) []*Endpoint {
	eps := make([]*Endpoint, n)
	for i := range eps {
		s := EndpointSpec{Address: fmt.Sprintf("10.0.0.%d:4317", i+1)}
		if i < len(weights) {
			s.Weight = weights[i]
		}
		e, err := newEndpoint(s, &passive{}, nil)
		if err != nil {
			panic(err)
		}
		eps[i] = e
	}
	return eps
}

func sprint(v any) string { return fmt.Sprint(v) }
