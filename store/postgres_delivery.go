package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sentstub/sentstub"
)

const postgresDeliveryColumns = `id, webhook_id, event_id, event_type, event_data, status, attempts,
	http_status_code, response_body, error_message, processing_started_at, processing_completed_at, created_at,
	next_attempt_at`

// The statements of the delivery log.
//
// The insert takes its webhook from the webhooks row, locked FOR KEY SHARE
// (as the foreign key's check would), and so inserts nothing, rather than
// failing, for a webhook that does not exist: see postgresInsertWebhook.
//
// In the list and count, $1 is the webhook, $2 its owner, $3 the search as
// searchText returns it (empty for none), $4 the event id it names or NULL,
// $5 and $6 the limit and offset. The page carries the total, as in
// postgresListWebhooks, and is empty unless owner has the webhook; an
// empty page is told apart by the count, which also finds whether owner
// has the webhook, in one snapshot.
const (
	postgresInsertDelivery = `INSERT INTO deliveries (` + postgresDeliveryColumns + `)
		SELECT $1, w.id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
		FROM webhooks w WHERE w.id = $2 FOR KEY SHARE`
	postgresDeliveryMatch = `webhook_id = $1 AND ($3 = '' OR strpos(lower(event_type COLLATE "C"), $3) > 0
		OR strpos(lower(status COLLATE "C"), $3) > 0 OR event_id = $4)`
	postgresOwnsWebhook    = `EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND owner_id = $2)`
	postgresListDeliveries = `SELECT ` + postgresDeliveryColumns + `, (SELECT count(*) FROM deliveries WHERE ` + postgresDeliveryMatch + `)
		FROM deliveries WHERE ` + postgresDeliveryMatch + ` AND ` + postgresOwnsWebhook + `
		ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6`
	postgresCountDeliveries = `SELECT ` + postgresOwnsWebhook + `, (SELECT count(*) FROM deliveries WHERE ` + postgresDeliveryMatch + `)`
)

// CreateDelivery implements sentstub.DeliveryStore.
func (s *PostgresStore) CreateDelivery(ctx context.Context, d *sentstub.Delivery) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.createDeliveryWithin(ctx, d)
}

func (s *PostgresStore) createDeliveryWithin(ctx context.Context, d *sentstub.Delivery) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, postgresInsertDelivery, d.ID, d.WebhookID, d.EventID, d.EventType,
			nonNilBytes(d.EventData), string(d.Status), d.Attempts, d.HTTPStatusCode, responseBytes(d.ResponseBody),
			d.ErrorMessage, d.ProcessingStartedAt, d.ProcessingCompletedAt, d.CreatedAt, d.NextAttemptAt)
		switch {
		case postgresIsCode(err, pgForeignKeyViolation): // not expected: the webhook's row is locked
			return notFoundWebhook()
		case err != nil:
			return fmt.Errorf("postgres: create delivery: %w", err)
		case tag.RowsAffected() == 0:
			return notFoundWebhook()
		}
		return nil
	})
}

// ListDeliveries implements sentstub.DeliveryStore.
func (s *PostgresStore) ListDeliveries(ctx context.Context, owner, id uuid.UUID, f sentstub.DeliveryFilter) (page []*sentstub.Delivery, total int, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.listDeliveriesWithin(ctx, owner, id, f)
}

func (s *PostgresStore) listDeliveriesWithin(ctx context.Context, owner, id uuid.UUID, f sentstub.DeliveryFilter) ([]*sentstub.Delivery, int, error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	page := []*sentstub.Delivery{}
	q := s.querier(ctx)
	search, ok := searchText(f.Search)
	if !ok { // no entry matches: what is left is whether owner has the webhook
		var owns bool
		if err := q.QueryRow(ctx, `SELECT `+postgresOwnsWebhook, id, owner).Scan(&owns); err != nil {
			return nil, 0, fmt.Errorf("postgres: find webhook: %w", err)
		}
		if !owns {
			return nil, 0, notFoundWebhook()
		}
		return page, 0, nil
	}
	eventID := searchedEventID(f.Search)
	rows, err := q.Query(ctx, postgresListDeliveries, id, owner, search, eventID, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	defer rows.Close()
	var total int
	for rows.Next() {
		d, err := scanPostgresDelivery(rows, &total)
		if err != nil {
			return nil, 0, err
		}
		page = append(page, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	if len(page) > 0 {
		return page, total, nil
	}
	var owns bool
	if err := q.QueryRow(ctx, postgresCountDeliveries, id, owner, search, eventID).Scan(&owns, &total); err != nil {
		return nil, 0, fmt.Errorf("postgres: count deliveries: %w", err)
	}
	if !owns {
		return nil, 0, notFoundWebhook()
	}
	return page, total, nil
}

// responseBytes is the response_body column's value of body: bytea (see
// the migration), with nil for NULL.
func responseBytes(body *string) []byte {
	if body == nil {
		return nil
	}
	return nonNilBytes([]byte(*body))
}

// scanPostgresDelivery scans the postgresDeliveryColumns of row, and then
// into extra whatever columns follow them.
func scanPostgresDelivery(row pgx.Row, extra ...any) (*sentstub.Delivery, error) {
	var (
		d      sentstub.Delivery
		status string
		body   []byte
	)
	if err := row.Scan(append([]any{&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &d.EventData, &status, &d.Attempts,
		&d.HTTPStatusCode, &body, &d.ErrorMessage, &d.ProcessingStartedAt, &d.ProcessingCompletedAt, &d.CreatedAt,
		&d.NextAttemptAt},
		extra...)...); err != nil {
		return nil, fmt.Errorf("postgres: read delivery: %w", err)
	}
	d.EventData = nonNilBytes(d.EventData)
	d.Status = sentstub.DeliveryStatus(status)
	if body != nil { // NULL is nil; an empty bytea is empty
		text := string(body)
		d.ResponseBody = &text
	}
	d.ProcessingStartedAt = utcPtr(d.ProcessingStartedAt)
	d.ProcessingCompletedAt = utcPtr(d.ProcessingCompletedAt)
	d.CreatedAt = d.CreatedAt.UTC()
	d.NextAttemptAt = utcPtr(d.NextAttemptAt)
	return &d, nil
}
