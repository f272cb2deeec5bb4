package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

// The statements of the outbox. The one connection runs one at a time, so
// a claim needs no row locks: the UPDATE picks the due deliveries and
// leases them in one step that nothing else can interleave with.
//
// In the claim, ?1 is the lease, ?2 its end, ?3 now and ?4 the limit; the
// subquery walks deliveries_due, whose WHERE its own repeats.
const (
	sqliteClaimDeliveries = `UPDATE deliveries SET lease = ?1, leased_until = ?2
		WHERE id IN (SELECT id FROM deliveries
			WHERE status = 'pending' AND next_attempt_at <= ?3 AND (leased_until IS NULL OR leased_until <= ?3)
			ORDER BY next_attempt_at, id LIMIT ?4)
		RETURNING ` + sqliteDeliveryColumns
	sqliteFindLeasedDelivery = `SELECT ` + sqliteDeliveryColumns + `, lease FROM deliveries WHERE id = ?`
	sqliteFinishDelivery     = `UPDATE deliveries SET status = ?, attempts = ?, http_status_code = ?, response_body = ?,
		error_message = ?, processing_started_at = ?, processing_completed_at = ?, next_attempt_at = ?,
		lease = NULL, leased_until = NULL WHERE id = ?`
	// ?1 is the reason, ?2 the webhook, ?3 the delivery that disabled it.
	sqliteDropDeliveries = `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, lease = NULL,
		leased_until = NULL, error_message = ?1 WHERE webhook_id = ?2 AND status = 'pending' AND id <> ?3`
	// ?1 is the lease, ?2 a JSON array of the ids.
	sqliteReleaseDelivery = `UPDATE deliveries SET lease = NULL, leased_until = NULL
		WHERE id IN (SELECT value FROM json_each(?2)) AND lease = ?1`
)

// EnqueueDeliveries implements sentstub.DeliveryStore.
func (s *SQLiteStore) EnqueueDeliveries(ctx context.Context, ds []*sentstub.Delivery) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.enqueueDeliveriesWithin(ctx, ds)
}

func (s *SQLiteStore) enqueueDeliveriesWithin(ctx context.Context, ds []*sentstub.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	return s.atomic(ctx, func() (func(*sqliteRequest), error) {
		for _, d := range ds {
			if err := s.insert(ctx, d); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// ClaimDeliveries implements sentstub.DeliveryStore. The webhooks come from
// the cache, which the claim fills as a read would.
func (s *SQLiteStore) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) (claimed []sentstub.Claimed, err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.claimDeliveriesWithin(ctx, now, until, limit)
}

func (s *SQLiteStore) claimDeliveriesWithin(ctx context.Context, now, until time.Time, limit int) ([]sentstub.Claimed, error) {
	claimed := []sentstub.Claimed{}
	if limit <= 0 {
		return claimed, nil
	}
	lease := uuid.New()
	err := s.atomic(ctx, func() (func(*sqliteRequest), error) {
		ds, err := s.claim(ctx, lease, now, until, limit)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			w, err := s.webhookByID(ctx, d.WebhookID)
			if err != nil {
				return nil, err
			}
			claimed = append(claimed, sentstub.Claimed{Delivery: d, Webhook: w.Clone(), Lease: lease})
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	// RETURNING has no order: put the earliest due first, as claimed.
	slices.SortFunc(claimed, func(a, b sentstub.Claimed) int {
		if c := a.Delivery.NextAttemptAt.Compare(*b.Delivery.NextAttemptAt); c != 0 {
			return c
		}
		return bytes.Compare(a.Delivery.ID[:], b.Delivery.ID[:])
	})
	return claimed, nil
}

// claim leases the due deliveries and returns them. The rows are read to
// the end before anything else runs on the connection: the UPDATE is done
// only then.
func (s *SQLiteStore) claim(ctx context.Context, lease uuid.UUID, now, until time.Time, limit int) ([]*sentstub.Delivery, error) {
	rows, err := s.claimDeliveries.QueryContext(ctx, lease.String(), until.UnixMicro(), now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	defer rows.Close()
	var ds []*sentstub.Delivery
	for rows.Next() {
		d, err := scanSQLiteDelivery(rows)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	return ds, nil
}

// FinishDelivery implements sentstub.DeliveryStore. Holding the one
// connection locks the delivery and its webhook together; the webhook is
// the cache's, saved the way UpdateWebhook saves it, and the cache takes
// the saved webhook once the transaction is kept.
func (s *SQLiteStore) FinishDelivery(ctx context.Context, id, lease uuid.UUID, record func(*sentstub.Delivery, *sentstub.Webhook) bool) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.finishDeliveryWithin(ctx, id, lease, record)
}

func (s *SQLiteStore) finishDeliveryWithin(ctx context.Context, id, lease uuid.UUID, record func(*sentstub.Delivery, *sentstub.Webhook) bool) error {
	return s.atomic(ctx, func() (func(*sqliteRequest), error) {
		var held sql.Null[uuid.UUID]
		d, err := scanSQLiteDelivery(s.findLeasedDelivery.QueryRowContext(ctx, id.String()), &held)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFoundDelivery()
		}
		if err != nil {
			return nil, err
		}
		if !held.Valid || held.V != lease {
			return nil, leaseLost()
		}
		cached, err := s.webhookByID(ctx, d.WebhookID)
		if err != nil {
			return nil, err
		}
		w := cached.Clone()
		disabled := record(d, w)
		// Which delivery and webhook they are is not record's to change.
		d.ID, d.WebhookID, w.ID, w.OwnerID = id, cached.ID, cached.ID, cached.OwnerID
		if _, err := s.finishDelivery.ExecContext(ctx, string(d.Status), d.Attempts, d.HTTPStatusCode, d.ResponseBody,
			d.ErrorMessage, nullableMicros(d.ProcessingStartedAt), nullableMicros(d.ProcessingCompletedAt),
			nullableMicros(d.NextAttemptAt), id.String()); err != nil {
			return nil, fmt.Errorf("sqlite: finish delivery: %w", err)
		}
		if err := s.saveWebhook(ctx, cached, w); err != nil {
			return nil, err
		}
		if disabled {
			if _, err := s.dropDeliveries.ExecContext(ctx, droppedReason, w.ID.String(), id.String()); err != nil {
				return nil, fmt.Errorf("sqlite: drop deliveries: %w", err)
			}
		}
		return func(r *sqliteRequest) { s.cache(r, w) }, nil
	})
}

// ReleaseDeliveries implements sentstub.DeliveryStore.
func (s *SQLiteStore) ReleaseDeliveries(ctx context.Context, lease uuid.UUID, ids []uuid.UUID) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.releaseDeliveriesWithin(ctx, lease, ids)
}

func (s *SQLiteStore) releaseDeliveriesWithin(ctx context.Context, lease uuid.UUID, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids) // uuid.UUID marshals as its string
	if err != nil {
		return fmt.Errorf("sqlite: release deliveries: %w", err)
	}
	return s.write(ctx, func(*sqliteRequest) error {
		if _, err := s.releaseDelivery.ExecContext(ctx, lease.String(), string(list)); err != nil {
			return fmt.Errorf("sqlite: release deliveries: %w", err)
		}
		return nil
	})
}
