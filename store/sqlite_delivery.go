package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sentstub/sentstub"
)

const sqliteDeliveryColumns = `id, webhook_id, event_id, event_type, event_data, status, attempts,
	http_status_code, response_body, error_message, processing_started_at, processing_completed_at, created_at,
	next_attempt_at`

// The statements of the delivery log. In the list and count, ?1 is the
// webhook, ?2 the search as searchText returns it (empty for none), ?3 the
// event id it names or NULL, ?4 and ?5 the limit and offset; the page
// carries the total, as in sqliteListWebhooks.
const (
	sqliteInsertDelivery = `INSERT INTO deliveries (` + sqliteDeliveryColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqliteDeliveryMatch = `webhook_id = ?1 AND (?2 = '' OR instr(lower(event_type), ?2) > 0
		OR instr(lower(status), ?2) > 0 OR event_id = ?3)`
	sqliteListDeliveries = `SELECT ` + sqliteDeliveryColumns + `, (SELECT count(*) FROM deliveries WHERE ` + sqliteDeliveryMatch + `)
		FROM deliveries WHERE ` + sqliteDeliveryMatch + ` ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5`
	sqliteCountDeliveries = `SELECT count(*) FROM deliveries WHERE ` + sqliteDeliveryMatch
)

// CreateDelivery implements sentstub.DeliveryStore.
func (s *SQLiteStore) CreateDelivery(ctx context.Context, d *sentstub.Delivery) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.createDeliveryWithin(ctx, d)
}

func (s *SQLiteStore) createDeliveryWithin(ctx context.Context, d *sentstub.Delivery) error {
	return s.write(ctx, func(*sqliteRequest) error { return s.insert(ctx, d) })
}

// insert adds d to the deliveries table; an unknown webhook is ENOTFOUND.
func (s *SQLiteStore) insert(ctx context.Context, d *sentstub.Delivery) error {
	if _, err := s.insertDelivery.ExecContext(ctx, d.ID.String(), d.WebhookID.String(), d.EventID.String(),
		d.EventType, nonNilBytes(d.EventData), string(d.Status), d.Attempts, d.HTTPStatusCode, d.ResponseBody,
		d.ErrorMessage, nullableMicros(d.ProcessingStartedAt), nullableMicros(d.ProcessingCompletedAt),
		d.CreatedAt.UnixMicro(), nullableMicros(d.NextAttemptAt)); err != nil {
		if sqliteIsCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
			return notFoundWebhook()
		}
		return fmt.Errorf("sqlite: create delivery: %w", err)
	}
	return nil
}

// ListDeliveries implements sentstub.DeliveryStore.
func (s *SQLiteStore) ListDeliveries(ctx context.Context, owner, id uuid.UUID, f sentstub.DeliveryFilter) (page []*sentstub.Delivery, total int, err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.listDeliveriesWithin(ctx, owner, id, f)
}

func (s *SQLiteStore) listDeliveriesWithin(ctx context.Context, owner, id uuid.UUID, f sentstub.DeliveryFilter) (page []*sentstub.Delivery, total int, err error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	page = []*sentstub.Delivery{}
	search, ok := searchText(f.Search)
	var eventID *string
	if e := searchedEventID(f.Search); e != nil {
		text := e.String()
		eventID = &text
	}
	err = s.withConn(ctx, func() (err error) {
		if _, err := s.webhook(ctx, owner, id); err != nil {
			return err
		}
		if !ok {
			return nil
		}
		page, total, err = sqlitePage(ctx, "deliveries", s.listDeliveries, s.countDeliveries, f.Offset, f.Limit, scanSQLiteDelivery,
			id.String(), search, eventID)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return page, total, nil
}

// scanSQLiteDelivery scans the sqliteDeliveryColumns of row, and then into
// extra whatever columns follow them.
func scanSQLiteDelivery(row scanner, extra ...any) (*sentstub.Delivery, error) {
	var (
		d                  sentstub.Delivery
		status             string
		started, completed *int64
		created            int64
		next               *int64
	)
	if err := row.Scan(append([]any{&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &d.EventData, &status, &d.Attempts,
		&d.HTTPStatusCode, &d.ResponseBody, &d.ErrorMessage, &started, &completed, &created, &next}, extra...)...); err != nil {
		return nil, fmt.Errorf("sqlite: read delivery: %w", err)
	}
	d.EventData = nonNilBytes(d.EventData) // SQLite reads an empty BLOB as NULL
	d.Status = sentstub.DeliveryStatus(status)
	d.ProcessingStartedAt = nullableTime(started)
	d.ProcessingCompletedAt = nullableTime(completed)
	d.CreatedAt = microsToTime(created)
	d.NextAttemptAt = nullableTime(next)
	return &d, nil
}
