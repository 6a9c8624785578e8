package broker

import "context"

// Payload returns the Handler that decodes a message's payload into a T (Message.Decode: a
// payload that does not decode is a permanent error) and passes it to f.
func Payload[T any](f func(ctx context.Context, m Message, p T) error) Handler {
	return func(ctx context.Context, m Message) error {
		var p T
		if err := m.Decode(&p); err != nil {
			return err
		}
		return f(ctx, m, p)
	}
}
