package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestPostgresSearchPlans seeds benchEvents events and checks with EXPLAIN that PostgreSQL
// answers every query of every shape of the search benchmark (listing, words common, rare and
// prefixes, tags, category, places, organizer, time range, combinations), first pages and
// next ones, without reading a whole events table (a Seq Scan). Of the combined filters that
// are searched in windows of start times (searchWindows) it checks that the windows find the
// same events as one search of the whole table, and that their plans read the B-tree indexes
// within the window only; of absent tags and words, that their matches are sorted.
func TestPostgresSearchPlans(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds 100,000 events; skipped in -short mode")
	}
	s, now := seededPostgres(t, benchEvents)
	ctx := context.Background()
	// The plans below are those of every search only if no session falls back to generic
	// plans (see withCustomPlans).
	var mode string
	if err := s.DB().QueryRowContext(ctx, `SHOW plan_cache_mode`).Scan(&mode); err != nil || mode != "force_custom_plan" {
		t.Fatalf("plan_cache_mode = %q, %v; want force_custom_plan", mode, err)
	}
	inWindows := map[string]bool{} // query and page → found in windows
	var organizer string
	if err := s.DB().QueryRowContext(ctx, `SELECT organizer_id FROM events GROUP BY organizer_id ORDER BY count(*) DESC LIMIT 1`).Scan(&organizer); err != nil {
		t.Fatal(err)
	}
	for _, shape := range benchShapes {
		for _, raw := range shape.queries {
			v, err := benchQuery(raw, now, organizer)
			if err != nil {
				t.Fatal(err)
			}
			q, err := ParseSearchQuery(v)
			if err != nil {
				t.Fatal(err)
			}
			q.From = &now // as the service does
			for _, page := range []string{"first page", "next page"} {
				if page == "next page" {
					first, err := s.Search(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if len(first.Events) == 0 {
						continue
					}
					last := first.Events[len(first.Events)-1]
					q.After = &Cursor{Time: last.StartsAt, ID: last.ID}
				}
				t.Run(shape.name+"/"+raw+"/"+page, func(t *testing.T) {
					query, args, ok, err := s.postgresWholeQuery(ctx, q)
					if err != nil || !ok {
						t.Fatalf("query %q: matches nothing, %v", raw, err)
					}
					var out string
					if err := s.DB().QueryRowContext(ctx, `EXPLAIN (FORMAT JSON) `+query, args...).Scan(&out); err != nil {
						t.Fatalf("explain: %v", err)
					}
					var plans []struct{ Plan planNode }
					if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
						t.Fatalf("explain output %s: %v", out, err)
					}
					var scans []planNode
					plans[0].Plan.walk(func(n planNode) {
						if n.NodeType == "Seq Scan" {
							scans = append(scans, n)
						}
					})
					if len(scans) > 0 {
						t.Errorf("sequential scan of %s in the plan:\n%s\n%s", scans[0].RelationName, plans[0].Plan.outline(), out)
					}
					t.Logf("plan: %s", plans[0].Plan.outline())
					// An absent tag or word: its index finds nothing, where the start times
					// walked in order would be read to the end.
					if shape.name == "absent" && !strings.HasPrefix(raw, "category=") &&
						(!strings.Contains(plans[0].Plan.outline(), "Sort") || strings.Contains(plans[0].Plan.outline(), "events_starts")) {
						t.Errorf("absent %s: plan %s, want its matches sorted", raw, plans[0].Plan.outline())
					}
					if in, err := s.inWindows(ctx, q); err != nil {
						t.Fatal(err)
					} else if in {
						inWindows[raw+"/"+page] = checkWindows(t, s, q)
					}
				})
			}
		}
	}
	// The combinations whose matches are many even at 100,000 events end in windows (at
	// 1,000,000 events, all but the empty place and music with chess in London do), and so do
	// the small towns.
	for _, raw := range []string{"q=jazz&category=music&near=48.8566,2.3522", "q=wine&category=food&tag=tasting", "tag=free&category=games",
		"near=-18.1248,178.4501", "near=45.764,4.8357&radius_km=10"} {
		for _, page := range []string{"first page", "next page"} {
			if !inWindows[raw+"/"+page] {
				t.Errorf("%s, %s: not found in windows", raw, page)
			}
		}
	}
}

// ginIndexes are the GIN indexes of events: they hold no start time, so a window reads them
// whole (and they are chosen when their lists are short).
var ginIndexes = map[string]bool{"events_tags": true, "events_search": true, "events_tag_cells": true}

// checkWindows searches q in windows (searchWindows), checks that it finds the events one
// search of the whole table finds and that each window's plan reads no B-tree index beyond
// the window, and reports whether the windows found the events.
func checkWindows(t *testing.T, s *SQLStore, q SearchQuery) bool {
	t.Helper()
	ctx := context.Background()
	var windows []string
	got, done, err := s.searchWindows(ctx, q, func(ctx context.Context, query string, args []any) ([]Event, error) {
		var out string
		if err := s.DB().QueryRowContext(ctx, `EXPLAIN (FORMAT JSON) `+query, args...).Scan(&out); err != nil {
			return nil, err
		}
		var plans []struct{ Plan planNode }
		if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
			return nil, fmt.Errorf("explain output %s: %v", out, err)
		}
		plans[0].Plan.walk(func(n planNode) {
			if n.NodeType == "Seq Scan" || n.IndexName != "" && !ginIndexes[n.IndexName] && !strings.Contains(n.IndexCond, "starts_at <=") {
				t.Errorf("window plan reads %s %s beyond the window:\n%s", n.NodeType, n.IndexName, out)
			}
		})
		windows = append(windows, plans[0].Plan.outline())
		return s.queryEvents(ctx, query, args)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("windows: %q, found there: %v", windows, done)
	if !done {
		return false
	}
	want, err := s.searchPostgresOnce(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(windows) == 0 || len(got) != q.Limit+1 || !slices.EqualFunc(got, want, func(a, b Event) bool { return a.ID == b.ID }) {
		t.Errorf("windows found %d events %v, the whole table %d %v", len(got), eventIDs(got), len(want), eventIDs(want))
	}
	return true
}

func eventIDs(events []Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// planNode is a node of a plan that EXPLAIN (FORMAT JSON) describes.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	IndexCond    string     `json:"Index Cond"`
	PlanRows     float64    `json:"Plan Rows"`
	Plans        []planNode `json:"Plans"`
}

func (n planNode) walk(visit func(planNode)) {
	visit(n)
	for _, c := range n.Plans {
		c.walk(visit)
	}
}

// outline returns the plan on one line, such as
// "Limit(21) > Index Scan events_starts(1200)": node types, indexes and estimated rows.
func (n planNode) outline() string {
	s := n.NodeType
	if n.IndexName != "" {
		s += " " + n.IndexName
	}
	s += fmt.Sprintf("(%.0f)", n.PlanRows)
	var children []string
	for _, c := range n.Plans {
		children = append(children, c.outline())
	}
	switch len(children) {
	case 0:
		return s
	case 1:
		return s + " > " + children[0]
	}
	return s + " > [" + strings.Join(children, ", ") + "]"
}
