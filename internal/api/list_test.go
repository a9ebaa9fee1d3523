package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestLargeListsKeepOrderAcrossWorkers lists collections big enough to be decoded and encoded on several
// goroutines and in several windows: every page, filtered or not, must hold exactly the right items in key
// order, as a typed list and as a Table.
func TestLargeListsKeepOrderAcrossWorkers(t *testing.T) {
	ts := newTestServer(t)
	const n = 1500
	fillPodsN(t, ts, n, func(i int) map[string]string { return map[string]string{"parity": []string{"even", "odd"}[i%2]} })

	want := func(selector string) []string {
		var names []string
		for i := range n {
			if selector == "" || (selector == "parity=odd") == (i%2 == 1) {
				names = append(names, fmt.Sprintf("pod-%05d", i))
			}
		}
		return names
	}
	for _, tc := range []struct {
		selector string
		limit    int64
	}{
		{"", 0}, {"", 500}, {"", 1499}, {"parity=odd", 0}, {"parity=odd", 300}, {"parity=even", 700},
	} {
		t.Run(fmt.Sprintf("%q limit %d", tc.selector, tc.limit), func(t *testing.T) {
			var got []string
			opts := metav1.ListOptions{LabelSelector: tc.selector, Limit: tc.limit}
			for page := 0; ; page++ {
				if page > n {
					t.Fatal("continue tokens never end")
				}
				list, err := ts.client.CoreV1().Pods("default").List(context.Background(), opts)
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				if tc.limit > 0 && int64(len(list.Items)) > tc.limit {
					t.Fatalf("page %d has %d items, limit %d", page, len(list.Items), tc.limit)
				}
				for _, p := range list.Items {
					got = append(got, p.Name)
				}
				if tc.selector == "" && list.Continue != "" {
					if list.RemainingItemCount == nil || *list.RemainingItemCount != int64(n-len(got)) {
						t.Errorf("page %d: remainingItemCount %v, want %d", page, list.RemainingItemCount, n-len(got))
					}
				}
				if list.Continue == "" {
					break
				}
				opts.Continue = list.Continue
			}
			if w := want(tc.selector); strings.Join(got, ",") != strings.Join(w, ",") {
				t.Errorf("got %d names, want %d; first difference at %d", len(got), len(w), firstDifference(got, w))
			}
		})
	}

	code, _, body := ts.do(http.MethodGet, "/api/v1/namespaces/default/pods?labelSelector=parity%3Dodd", "", kubectlTableAccept, "")
	var table metav1.Table
	if err := json.Unmarshal(body, &table); code != http.StatusOK || err != nil {
		t.Fatalf("table: %d %v", code, err)
	}
	w := want("parity=odd")
	if len(table.Rows) != len(w) {
		t.Fatalf("table has %d rows, want %d", len(table.Rows), len(w))
	}
	for i, row := range table.Rows {
		if row.Cells[0] != w[i] {
			t.Fatalf("row %d is %v, want %s", i, row.Cells[0], w[i])
		}
	}
}

func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
