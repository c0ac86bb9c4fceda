package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

func ExampleManager() {
	cfg := resilience.NewDefaultConfig()
	cfg.Retry.BaseDelay, cfg.Retry.MaxDelay = time.Millisecond, time.Millisecond
	m, err := resilience.NewManager(cfg)
	if err != nil {
		panic(err)
	}
	attempts := 0
	err = m.Execute(context.Background(), "my_operation", func(context.Context) error {
		attempts++
		if attempts < 3 {
			return errors.New("temporarily unavailable")
		}
		return nil
	})
	met := m.Metrics()[0]
	fmt.Println(err, attempts, met.Name, met.Successes, met.Retries)
	// Output: <nil> 3 my_operation 1 2
}

func ExampleExecutor() {
	breaker, _ := resilience.NewBreaker(resilience.NewDefaultBreakerConfig(), resilience.WithName("prices"))
	ex, _ := resilience.NewExecutor[string]("prices",
		resilience.FallbackBackup(func(context.Context) (string, error) { return "cached price list", nil }),
		breaker,
		resilience.NewTimeout(time.Second),
	)
	v, err := ex.Execute(context.Background(), func(context.Context) (string, error) {
		return "", resilience.FromHTTPResponse(503, nil, "maintenance")
	})
	fmt.Println(v, err)
	// Output: cached price list <nil>
}

func ExampleFromHTTPResponse() {
	err := resilience.FromHTTPResponse(400, nil, "bad span id")
	fmt.Println(resilience.IsPermanent(err), resilience.IsRetryable(err))
	// Output: true false
}
