// Package rabbitmq is the broker of the distributed mode: a broker.Broker over RabbitMQ
// (AMQP 0-9-1, github.com/rabbitmq/amqp091-go) with durable quorum queues, publisher
// confirms, manual acknowledgements, delayed retries and dead-letter queues.
//
// # Topology
//
// Every process declares the whole topology, from Config.Bindings (the application's is
// messages.Bindings), each time it connects, so that a message published before its consumer ever
// started waits in its queue. With prefix P (Config.Prefix, "eventpost" by default):
//
//	exchange P                      topic, durable; every message is published here with
//	                                its type (such as "email.send") as routing key
//	queue P.<queue>                 quorum; bound to P with each type of its binding;
//	                                x-delivery-limit (Config.DeliveryLimit), beyond which
//	                                the server dead-letters to P.<queue>.dead
//	queue P.<queue>.retry.<delay>   quorum, one per Config.RetryDelays entry (1s 5s 30s 2m
//	                                10m by default); x-message-ttl = delay; expired
//	                                messages are dead-lettered through the default
//	                                exchange back to P.<queue> (at-least-once)
//	queue P.<queue>.dead            quorum; messages rejected for good or out of attempts,
//	                                kept for an operator
//
// For messages.Bindings that is the exchange "eventpost" and, for each of the queues
// mailer.email-send, events.account-deleted, notifications.domain and
// notifications.email-result, a main queue, five retry queues and a dead-letter queue.
// Retry and dead-letter copies are published to the default exchange with the target
// queue's name as routing key, so that a retried message returns to the one queue whose
// consumer failed, never to the other queues bound to its type. A queue's arguments cannot
// change once it exists: changing Prefix, the delays or the delivery limit of a running
// system needs new queues (or deleting the old ones once drained).
//
// Quorum queues support per-queue message TTL from RabbitMQ 3.10, and at-least-once
// dead-lettering (x-dead-letter-strategy, with x-overflow reject-publish) needs the
// stream_queue feature flag, enabled by default; the servers of development and CI run
// 3.10.8.
//
// # Messages
//
// The body is the JSON of broker.Message; the AMQP properties repeat its ID (message-id),
// type, time (timestamp), content type application/json and persistent delivery mode; the
// headers request_id and traceparent carry the request's identifiers: the consumer reads them
// back, preferring them to the body's, and runs the handler in a consumer span that is a
// child of the traceparent's span. A retried or dead-lettered copy also carries x-attempt,
// the attempt number of its next delivery (the last one made, in the dead-letter queue), and
// x-error, the last handler error.
//
// # Publishing
//
// Publish waits for the publisher confirm of each message, published mandatory: an
// unroutable message is an error. Concurrent publishes are pipelined on one channel. While
// disconnected, Publish fails at once; the outbox relay keeps the message and retries.
//
// # Consuming
//
// Handlers are acknowledged after they return nil. A transient error moves the message to
// the retry queue of its attempt's delay with x-attempt incremented; a broker.Permanent
// error, or attempt Config.MaxAttempts failing, moves it to the dead-letter queue. The
// original is acknowledged only once its copy is confirmed. Delivery is at least once:
// handlers must be idempotent (outbox.FirstDelivery). Each delivery goes to the consumer's
// Handle on its own, never to a HandleBatch: a batch that fails as a whole while a database
// is down (its claim transaction) would move every message of it one retry delay further at
// once, and the delays grow to 30 s from the third attempt (measured in
// TestChaosPostgresRestarted, docs/benchmarks.md).
//
// # Connections
//
// A process holds two connections, one for publishing and one for consuming, so that the
// server's flow control on publishers never holds back acknowledgements. A supervisor
// goroutine reconnects with exponential backoff and jitter (Config.ReconnectMin to
// ReconnectMax) whenever either connection or any channel closes, and rebuilds channels,
// topology and consumers; publishes waiting for a confirmation on the lost connection fail
// with ErrConnectionLost. Every notification channel handed to the library is buffered and
// always drained.
//
// # Metrics
//
// broker_published_total{type}, broker_publish_failures_total, broker_acked_total{queue},
// broker_retried_total{queue}, broker_dead_letters_total{queue}, broker_reconnects_total and
// broker_connected.
package rabbitmq
