package lb

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []EndpointSpec
		wantErr string
	}{
		{"lines", "# collectors\n\ncollector-1:4317\n  collector-2:4317 3  # bigger\n[fd00::1]:4317\n",
			[]EndpointSpec{{Address: "collector-1:4317"}, {Address: "collector-2:4317", Weight: 3}, {Address: "[fd00::1]:4317"}}, ""},
		{"empty", "# nothing yet\n", nil, ""},
		{"toml", "# all of them\nendpoints = [\"a:1\", {address = \"b:2\", weight = 4}]\n",
			[]EndpointSpec{{Address: "a:1"}, {Address: "b:2", Weight: 4}}, ""},
		{"toml tables", "[[endpoints]]\naddress = \"a:1\"\n", []EndpointSpec{{Address: "a:1"}}, ""},
		{"no port", "collector-1\n", nil, "line 1"},
		{"bad weight", "a:1\nb:2 heavy\n", nil, "line 2"},
		{"too many fields", "a:1 2 3\n", nil, "line 1"},
		{"weight too big", "a:1 1000001\n", nil, "weight"},
		{"toml unknown key", "endpoint = [\"a:1\"]\n", nil, "unknown key"},
		{"toml bad address", "endpoints = [\"a\"]\n", nil, "endpoints[0]"},
		{"toml syntax", "endpoints = [\n", nil, "toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEndpoints([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// FuzzParseEndpoints: whatever it accepts is valid, and survives a round trip through the
// one-per-line form.
func FuzzParseEndpoints(f *testing.F) {
	for _, s := range []string{
		"a:1\nb:2 3\n",
		"# c\n[::1]:4317 2 # x\n",
		"endpoints = [\"a:1\", {address = \"b:2\", weight = 4}]",
		"[[endpoints]]\naddress = \"a:1\"\nweight = 2\n",
		"a:99999\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := ParseEndpoints(data)
		if err != nil {
			return
		}
		var sb strings.Builder
		for _, s := range specs {
			if err := s.validate(); err != nil {
				t.Fatalf("accepted invalid %+v: %v", s, err)
			}
			fmt.Fprintf(&sb, "%s %d\n", s.Address, s.Weight)
		}
		again, err := ParseEndpoints([]byte(sb.String()))
		if err != nil {
			t.Fatalf("round trip of %q: %v", sb.String(), err)
		}
		if !slices.Equal(again, specs) {
			t.Fatalf("round trip: %v, want %v", again, specs)
		}
	})
}
