package components

import (
	"os"
	"strings"
	"testing"
)

// docs/components.md lists every component of the list, by kind and type.
func TestDocsListEveryComponent(t *testing.T) {
	doc, err := os.ReadFile("../../docs/components.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range List() {
		row := "| " + f.Kind().String() + " | `" + f.Type() + "` |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/components.md has no row %q", row)
		}
	}
}
