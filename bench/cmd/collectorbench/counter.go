package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// counter reads a running total of delivered spans over HTTP: either one metric (summed over
// the series that carry Labels) from a Prometheus text endpoint, or the bench sink's JSON.
type counter struct {
	URL    string
	Metric string            // empty: URL serves the sink's {"spans": N}
	Labels map[string]string // series must carry all of these
}

func (c counter) String() string {
	if c.Metric == "" {
		return c.URL
	}
	return fmt.Sprintf("%s %s%v", c.URL, c.Metric, c.Labels)
}

// read returns the current total. A metric with no series yet counts as zero, because a
// collector may export a counter only once it first moves.
func (c counter) read(ctx context.Context, hc *http.Client) (int64, error) {
	body, err := get(ctx, hc, c.URL)
	if err != nil {
		return 0, err
	}
	if c.Metric == "" {
		var v struct {
			Spans *int64 `json:"spans"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return 0, fmt.Errorf("%s: %w", c.URL, err)
		}
		if v.Spans == nil {
			return 0, fmt.Errorf("%s: no spans field", c.URL)
		}
		return *v.Spans, nil
	}
	sum, _, err := sumSeries(body, c.Metric, c.Labels)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", c.URL, err)
	}
	return int64(sum), nil
}

// get returns the body of a 200 response.
func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return body, nil
}
