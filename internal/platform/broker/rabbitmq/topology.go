package rabbitmq

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// declare declares the whole topology of cfg on ch (see the package documentation). Every
// declaration is idempotent; one whose arguments differ from an existing entity's fails
// with PRECONDITION_FAILED, closing ch.
func declare(ch *amqp.Channel, cfg Config) error {
	if err := ch.ExchangeDeclare(cfg.Exchange(), amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", cfg.Exchange(), err)
	}
	for _, b := range cfg.Bindings {
		main, dead := cfg.Queue(b.Queue), cfg.DeadQueue(b.Queue)
		if err := declareQueue(ch, dead, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
			return err
		}
		if err := declareQueue(ch, main, amqp.Table{
			amqp.QueueTypeArg:           amqp.QueueTypeQuorum,
			amqp.QueueOverflowArg:       amqp.QueueOverflowRejectPublish,
			"x-delivery-limit":          int64(cfg.DeliveryLimit),
			"x-dead-letter-exchange":    "",
			"x-dead-letter-routing-key": dead,
			"x-dead-letter-strategy":    "at-least-once",
		}); err != nil {
			return err
		}
		for _, t := range b.Types {
			if err := ch.QueueBind(main, t, cfg.Exchange(), false, nil); err != nil {
				return fmt.Errorf("bind queue %s to %s: %w", main, t, err)
			}
		}
		for _, d := range uniqueDelays(cfg.RetryDelays) {
			if err := declareQueue(ch, cfg.RetryQueue(b.Queue, d), amqp.Table{
				amqp.QueueTypeArg:           amqp.QueueTypeQuorum,
				amqp.QueueOverflowArg:       amqp.QueueOverflowRejectPublish,
				amqp.QueueMessageTTLArg:     d.Milliseconds(),
				"x-dead-letter-exchange":    "",
				"x-dead-letter-routing-key": main,
				"x-dead-letter-strategy":    "at-least-once",
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

func declareQueue(ch *amqp.Channel, name string, args amqp.Table) error {
	if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		return fmt.Errorf("declare queue %s: %w", name, err)
	}
	return nil
}
