package events

import (
	"context"
	"fmt"
	"strings"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/database"
)

// PutAccount implements Store.
func (s *SQLStore) PutAccount(ctx context.Context, a messages.AccountChanged) error {
	return s.putAccount(ctx, s.DB(), a)
}

// putAccount is PutAccount through db, a database or a transaction.
func (s *SQLStore) putAccount(ctx context.Context, db database.Execer, a messages.AccountChanged) error {
	_, err := db.ExecContext(ctx, s.Rebind(`INSERT INTO accounts (account_id, email, email_verified, display_name, version)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET email = excluded.email, email_verified = excluded.email_verified,
			display_name = excluded.display_name, version = excluded.version
		WHERE accounts.version < excluded.version`),
		a.AccountID, a.Email, a.EmailVerified, a.DisplayName, a.Version)
	if err != nil {
		return fmt.Errorf("keep account %s: %w", a.AccountID, err)
	}
	return nil
}

// DisplayNames implements Store.
func (s *SQLStore) DisplayNames(ctx context.Context, ids []string) (map[string]string, error) {
	names := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return names, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	// One organizer is the read of an event by ID, a hot path: that one text is kept prepared
	// (a text per list length would crowd the Prepared's bound).
	var db database.Querier = s.DB()
	if len(ids) == 1 {
		db = s.Prepared()
	}
	rows, err := db.QueryContext(ctx, s.Rebind(`SELECT account_id, display_name FROM accounts
		WHERE account_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`), args...)
	if err != nil {
		return nil, fmt.Errorf("load display names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("load display names: %w", err)
		}
		names[id] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load display names: %w", err)
	}
	return names, nil
}
