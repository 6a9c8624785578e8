package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestPostgresSearchPlans seeds benchEvents events and checks with EXPLAIN that PostgreSQL
// answers every query of every shape of the search benchmark (listing, words common, rare and
// prefixes, tags, category, places, organizer, time range, combinations), first pages and
// next ones, without reading a whole events table (a Seq Scan).
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
					query, args, ok := postgresSearchQuery(q)
					if !ok {
						t.Fatalf("query %q matches nothing", raw)
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
				})
			}
		}
	}
}

// planNode is a node of a plan that EXPLAIN (FORMAT JSON) describes.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
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
