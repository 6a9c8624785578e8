// Package discovery finds the instances of a service. The all-in-one mode uses the Static
// resolver; the distributed mode adds one backed by Consul.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
)

// ErrNoInstance is reported when a service has no instance to pick.
var ErrNoInstance = errors.New("discovery: no instance")

// Service names, as services register and look each other up.
const (
	Gateway       = "gateway"
	Auth          = "auth"
	Events        = "events"
	Notifications = "notifications"
	Mailer        = "mailer"
)

// Resolver returns the base URLs (such as http://127.0.0.1:8081) of the healthy instances of a
// service.
type Resolver interface {
	Resolve(ctx context.Context, service string) ([]string, error)
}

// Static resolves from a fixed map of service names to base URLs.
type Static map[string][]string

// Resolve implements Resolver.
func (s Static) Resolve(_ context.Context, service string) ([]string, error) {
	urls := s[service]
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w of %s", ErrNoInstance, service)
	}
	return urls, nil
}

// Balancer picks instances of services round-robin.
type Balancer struct {
	r    Resolver
	next atomic.Uint64
}

// NewBalancer returns a round-robin balancer over r.
func NewBalancer(r Resolver) *Balancer { return &Balancer{r: r} }

// Pick returns the base URL of one instance of service.
func (b *Balancer) Pick(ctx context.Context, service string) (string, error) {
	urls, err := b.r.Resolve(ctx, service)
	if err != nil {
		return "", err
	}
	return urls[b.next.Add(1)%uint64(len(urls))], nil
}

// PickExcept returns the base URL of one instance of service other than those in tried
// (instances that already failed a request), round-robin among the rest. It reports
// ErrNoInstance when every instance was tried.
func (b *Balancer) PickExcept(ctx context.Context, service string, tried ...string) (string, error) {
	urls, err := b.r.Resolve(ctx, service)
	if err != nil {
		return "", err
	}
	left := make([]string, 0, len(urls))
	for _, u := range urls {
		if !slices.Contains(tried, u) {
			left = append(left, u)
		}
	}
	if len(left) > 0 {
		return left[b.next.Add(1)%uint64(len(left))], nil
	}
	return "", fmt.Errorf("%w of %s left untried", ErrNoInstance, service)
}
