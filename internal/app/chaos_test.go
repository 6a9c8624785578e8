package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/broker/amqptest"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// restartDown is how long a restarted server stays down in the chaos tests.
const restartDown = 5 * time.Second

// backWithin is how soon after a restarted server is back every reminder must have arrived.
const backWithin = 30 * time.Second

// TestChaosPostgresRestarted crashes the PostgreSQL server every service keeps its data on
// (pg_ctl's immediate mode: every connection cut, recovery from the write-ahead log at the
// next start) 0.5 s after the first of 2,000 reminders falls due, and starts it again 5 s
// later: no reminder may be lost or sent twice, and all must arrive within 30 s of its return.
func TestChaosPostgresRestarted(t *testing.T) {
	pg := pgtest.StartServer(t)
	restartDuringBurst(t, "PostgreSQL", servers{postgresURL: pg.URL()}, pg.Kill, pg.Start)
}

// TestChaosRabbitMQRestarted stops the RabbitMQ node 0.5 s after the first of 2,000
// reminders falls due and starts it again 5 s later: no reminder may be lost or sent twice,
// and all must arrive within 30 s of its return.
func TestChaosRabbitMQRestarted(t *testing.T) {
	mq := amqptest.StartServer(t)
	restartDuringBurst(t, "RabbitMQ", servers{amqpURL: mq.URL()}, mq.Kill, mq.Start)
}

// restartDuringBurst starts a cluster on srv, creates faultLoad reminders due within 3 s and,
// 0.5 s after the first falls due, restarts the server named name (see restart).
func restartDuringBurst(t *testing.T, name string, srv servers, kill, start func() error) {
	t.Helper()
	smtp := smtptest.Start(t)
	_, c, _, _ := startClusterOn(t, srv, smtp, nil, loadEnv...)
	first := time.Now().Add(dueAfterCreation)
	load := createReminders(t, c, faultLoad, 16, first, 3*time.Second)

	time.Sleep(time.Until(first.Add(500 * time.Millisecond)))
	restart(t, name, kill, start, smtp, load)
}

// restart stops a server with kill, starts it again restartDown later, and checks that every
// reminder of load reached smtp once, within backWithin of the server's return, or of the
// last reminder's time when that is later (a loaded machine slides the load's plan: a full run
// once created the last reminders due 17 s late, after the server was back).
func restart(t *testing.T, name string, kill, start func() error, smtp *smtptest.Server, load reminderLoad) {
	t.Helper()
	if err := kill(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	before := len(countDeliveries(smtp, load).perReminder)
	time.Sleep(restartDown)
	if err := start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("%s down from 0.5 s after the first reminder fell due, for %s (%d reminders delivered before)",
		name, back.Sub(down).Round(time.Millisecond), before)
	d := waitForDeliveries(t, smtp, load, 3*time.Minute)
	if d.last.IsZero() {
		return // waitForDeliveries failed t: nothing arrived
	}
	lastDue := back
	for _, due := range load.due {
		if due.After(lastDue) {
			lastDue = due
		}
	}
	from, since := back, name+" was back"
	if lastDue.After(back) {
		from, since = lastDue, fmt.Sprintf("the last reminder's time, %s after %s was back", lastDue.Sub(back).Round(time.Millisecond), name)
	}
	after := d.last.Sub(from)
	t.Logf("the last reminder arrived %s after %s", after.Round(time.Millisecond), since)
	if after > backWithin {
		t.Errorf("the last reminder arrived %s after %s; want within %s", after.Round(time.Millisecond), since, backWithin)
	}
}
