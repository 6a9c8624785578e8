package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/eventpost/eventpost/internal/platform/retry"
)

// Registration describes one instance of a service to the local Consul agent.
type Registration struct {
	// Service is the service's name (Gateway, Auth…).
	Service string
	// ID names this instance among all instances of every service; it must be unique in the
	// Consul cluster.
	ID string
	// Address and Port are where the instance serves HTTP; other instances reach it there and
	// Consul checks it there.
	Address string
	Port    int
	// Tags and Meta are published with the instance (such as its instance name and version).
	Tags []string
	Meta map[string]string
	// CheckPath is the path of the HTTP check. Default "/readyz".
	CheckPath string
	// CheckInterval is how often Consul runs the check (at least 1s, Consul's minimum).
	// Default 1s.
	CheckInterval time.Duration
	// CheckTimeout bounds one check. Default 2s.
	CheckTimeout time.Duration
	// DeregisterAfter is how long the check may stay critical before Consul removes the
	// instance. Consul raises any value below one minute to one minute and looks every 30
	// seconds, so an instance is removed between 1 and 1.5 minutes after it went critical.
	// Default 1 minute.
	DeregisterAfter time.Duration
	// Resync is how often the registrar checks that the agent still knows the instance (an
	// agent restarted in dev mode forgets it) and registers it again. Default 10s.
	Resync time.Duration
}

// Registrar keeps one instance registered with the local Consul agent for as long as Run runs,
// and deregisters it when Run ends.
type Registrar struct {
	client *api.Client
	reg    Registration
	log    *slog.Logger
}

// NewRegistrar returns a registrar of reg with the agent client talks to.
func NewRegistrar(client *api.Client, reg Registration, log *slog.Logger) (*Registrar, error) {
	switch {
	case client == nil || log == nil:
		return nil, errors.New("discovery: a Consul client and a logger are required")
	case reg.Service == "" || reg.ID == "":
		return nil, errors.New("discovery: a registration needs a service name and an instance ID")
	case reg.Address == "" || reg.Port <= 0 || reg.Port > 65535:
		return nil, fmt.Errorf("discovery: registration of %s: bad address %q port %d", reg.ID, reg.Address, reg.Port)
	case reg.CheckInterval != 0 && reg.CheckInterval < time.Second:
		return nil, fmt.Errorf("discovery: registration of %s: check interval %s is below Consul's minimum of 1s", reg.ID, reg.CheckInterval)
	}
	if reg.CheckPath == "" {
		reg.CheckPath = "/readyz"
	}
	if reg.CheckInterval == 0 {
		reg.CheckInterval = time.Second
	}
	if reg.CheckTimeout <= 0 {
		reg.CheckTimeout = 2 * time.Second
	}
	if reg.DeregisterAfter <= 0 {
		reg.DeregisterAfter = time.Minute
	}
	if reg.Resync <= 0 {
		reg.Resync = 10 * time.Second
	}
	return &Registrar{client: client, reg: reg, log: log.With("consul_service_id", reg.ID)}, nil
}

// CheckID returns the ID of the instance's HTTP check.
func (r *Registrar) CheckID() string { return "service:" + r.reg.ID + ":http" }

// Register registers the instance and its HTTP check, replacing any earlier registration of
// the same ID. The check starts critical, so the instance is resolved only once it has
// passed.
func (r *Registrar) Register(ctx context.Context) error {
	reg := r.reg
	check := "http://" + net.JoinHostPort(reg.Address, strconv.Itoa(reg.Port)) + reg.CheckPath
	err := r.client.Agent().ServiceRegisterOpts(&api.AgentServiceRegistration{
		ID: reg.ID, Name: reg.Service, Address: reg.Address, Port: reg.Port, Tags: reg.Tags, Meta: reg.Meta,
		Check: &api.AgentServiceCheck{
			CheckID:                        r.CheckID(),
			Name:                           reg.Service + " readiness",
			HTTP:                           check,
			Method:                         "GET",
			Interval:                       reg.CheckInterval.String(),
			Timeout:                        reg.CheckTimeout.String(),
			Status:                         api.HealthCritical,
			DeregisterCriticalServiceAfter: reg.DeregisterAfter.String(),
		},
	}, api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("consul: register %s: %w", reg.ID, err)
	}
	return nil
}

// Deregister removes the instance from the agent.
func (r *Registrar) Deregister(ctx context.Context) error {
	if err := r.client.Agent().ServiceDeregisterOpts(r.reg.ID, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("consul: deregister %s: %w", r.reg.ID, err)
	}
	return nil
}

// registered reports whether the agent knows the instance.
func (r *Registrar) registered(ctx context.Context) (bool, error) {
	_, _, err := r.client.Agent().Service(r.reg.ID, (&api.QueryOptions{}).WithContext(ctx))
	var se api.StatusError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &se) && se.Code == 404:
		return false, nil
	}
	return false, err
}

// deregisterTimeout bounds the deregistration when Run ends.
const deregisterTimeout = 5 * time.Second

// Run registers the instance, registers it again whenever the agent has forgotten it (or
// could not be reached), and when ctx is done deregisters it and returns nil. A failure to
// reach the agent is logged and retried, never fatal: the instance keeps serving, it is only
// not discoverable meanwhile.
func (r *Registrar) Run(ctx context.Context) error {
	failures := 0
	need := true
	for ctx.Err() == nil {
		var err error
		if !need {
			var ok bool
			if ok, err = r.registered(ctx); err == nil && !ok {
				r.log.WarnContext(ctx, "consul agent forgot this instance; registering it again")
				need = true
			}
		}
		if need && err == nil {
			if err = r.Register(ctx); err == nil {
				r.log.InfoContext(ctx, "registered with consul", "consul_service", r.reg.Service,
					"address", net.JoinHostPort(r.reg.Address, strconv.Itoa(r.reg.Port)), "check_interval", r.reg.CheckInterval.String())
				need = false
			}
		}
		wait := r.reg.Resync
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			wait = min(retry.Backoff(250*time.Millisecond, r.reg.Resync, failures), r.reg.Resync)
			r.log.WarnContext(ctx, "consul registration", "err", err, "retry_in", wait.String())
		} else {
			failures = 0
		}
		retry.Sleep(ctx, wait)
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deregisterTimeout)
	defer cancel()
	if err := r.Deregister(dctx); err != nil {
		r.log.WarnContext(dctx, "consul deregistration", "err", err)
		return nil
	}
	r.log.InfoContext(dctx, "deregistered from consul", "consul_service", r.reg.Service)
	return nil
}
