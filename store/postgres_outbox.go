package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sentstub/sentstub"
)

// The statements of the outbox.
//
// Locks. Every transaction that locks rows of both tables locks the
// webhook first, then its deliveries, as DeleteWebhook's cascade does, and
// one that locks several webhooks locks them in id order; a claim locks
// deliveries alone and never waits for one (SKIP LOCKED). No two of them
// can then wait for each other in a circle:
//
//   - UpdateWebhook: the webhook, FOR NO KEY UPDATE.
//   - CreateDelivery, EnqueueDeliveries: the webhooks, FOR KEY SHARE (as
//     the foreign key's check would), which no update of a webhook blocks.
//   - ClaimDeliveries: due deliveries, FOR UPDATE SKIP LOCKED.
//   - FinishDelivery: the webhook, FOR NO KEY UPDATE (what its UPDATE
//     takes: FOR UPDATE would also hold up every fan-out to the webhook),
//     then the delivery, FOR UPDATE, then the webhook's other pending
//     deliveries if it drops them.
//   - DeleteWebhook, ResetAccount: the webhooks, then, by the cascade,
//     their deliveries.
var (
	// $1 is now, $2 the limit, $3 the lease and $4 its end. A claimer
	// skips the deliveries that another is claiming or finishing; one that
	// another claim leased since this statement's snapshot is locked,
	// read again as committed and, leased now, left out. MATERIALIZED
	// runs the subquery once: run again, SKIP LOCKED could pick other rows.
	postgresClaimDeliveries = `WITH due AS MATERIALIZED (
			SELECT id FROM deliveries
			WHERE status = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until <= $1)
			ORDER BY next_attempt_at, id LIMIT $2
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE deliveries d SET lease = $3, leased_until = $4 FROM due WHERE d.id = due.id
			RETURNING ` + qualified("d", postgresDeliveryColumns) + `
		)
		SELECT ` + qualified("c", postgresDeliveryColumns) + `, ` + qualified("w", postgresWebhookColumns) + `
		FROM claimed c JOIN webhooks w ON w.id = c.webhook_id
		ORDER BY c.next_attempt_at, c.id`

	// The webhook of the delivery $1, locked. A delivery's webhook_id never
	// changes, so the unlocked read of it is safe.
	postgresLockDeliveryWebhook = `SELECT ` + postgresWebhookColumns + ` FROM webhooks
		WHERE id = (SELECT webhook_id FROM deliveries WHERE id = $1) FOR NO KEY UPDATE`
	postgresLockDelivery = `SELECT ` + postgresDeliveryColumns + `, lease FROM deliveries WHERE id = $1 FOR UPDATE`
)

const (
	postgresFinishDelivery = `UPDATE deliveries SET status = $1, attempts = $2, http_status_code = $3,
		response_body = $4, error_message = $5, processing_started_at = $6, processing_completed_at = $7,
		next_attempt_at = $8, lease = NULL, leased_until = NULL WHERE id = $9`
	// $1 is the reason, $2 the webhook, $3 the delivery that disabled it.
	postgresDropDeliveries = `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, lease = NULL,
		leased_until = NULL, error_message = $1 WHERE webhook_id = $2 AND status = 'pending' AND id <> $3`
	postgresReleaseDeliveries = `UPDATE deliveries SET lease = NULL, leased_until = NULL
		WHERE id = ANY($1) AND lease = $2`

	// The deliveries come as one array per column. Like
	// postgresInsertDelivery, the insert raises nothing for a webhook that
	// does not exist: it locks the webhooks that do, FOR KEY SHARE and in
	// id order, and inserts every delivery or, when one of the webhooks is
	// missing, none.
	postgresEnqueueDeliveries = `WITH input AS (
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bytea[], $6::text[],
				$7::integer[], $8::integer[], $9::bytea[], $10::text[], $11::timestamptz[], $12::timestamptz[],
				$13::timestamptz[], $14::timestamptz[])
			AS t (` + postgresDeliveryColumns + `)
		), found AS (
			SELECT w.id FROM webhooks w WHERE w.id IN (SELECT webhook_id FROM input) ORDER BY w.id FOR KEY SHARE
		)
		INSERT INTO deliveries (` + postgresDeliveryColumns + `)
		SELECT ` + postgresDeliveryColumns + ` FROM input
		WHERE (SELECT count(*) FROM found) = (SELECT count(DISTINCT webhook_id) FROM input)`
)

// qualified returns the comma-separated columns cols, each prefixed with
// alias.
func qualified(alias, cols string) string {
	list := strings.Split(cols, ",")
	for i, c := range list {
		list[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(list, ", ")
}

// EnqueueDeliveries implements sentstub.DeliveryStore, in one statement.
func (s *PostgresStore) EnqueueDeliveries(ctx context.Context, ds []*sentstub.Delivery) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.enqueueDeliveriesWithin(ctx, ds)
}

func (s *PostgresStore) enqueueDeliveriesWithin(ctx context.Context, ds []*sentstub.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	var (
		ids, webhooks, events  = make([]uuid.UUID, len(ds)), make([]uuid.UUID, len(ds)), make([]uuid.UUID, len(ds))
		types, statuses        = make([]string, len(ds)), make([]string, len(ds))
		data, bodies           = make([][]byte, len(ds)), make([][]byte, len(ds))
		attempts               = make([]int, len(ds))
		codes                  = make([]*int, len(ds))
		messages               = make([]*string, len(ds))
		started, completed     = make([]*time.Time, len(ds)), make([]*time.Time, len(ds))
		createdAt, nextAttempt = make([]time.Time, len(ds)), make([]*time.Time, len(ds))
	)
	for i, d := range ds {
		ids[i], webhooks[i], events[i], types[i], statuses[i] = d.ID, d.WebhookID, d.EventID, d.EventType, string(d.Status)
		data[i], bodies[i], attempts[i], codes[i], messages[i] = nonNilBytes(d.EventData), responseBytes(d.ResponseBody),
			d.Attempts, d.HTTPStatusCode, d.ErrorMessage
		started[i], completed[i], createdAt[i], nextAttempt[i] = d.ProcessingStartedAt, d.ProcessingCompletedAt,
			d.CreatedAt, d.NextAttemptAt
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, postgresEnqueueDeliveries, ids, webhooks, events, types, data, statuses, attempts,
			codes, bodies, messages, started, completed, createdAt, nextAttempt)
		switch {
		case postgresIsCode(err, pgForeignKeyViolation): // not expected: the webhooks' rows are locked
			return notFoundWebhook()
		case err != nil:
			return fmt.Errorf("postgres: enqueue deliveries: %w", err)
		case tag.RowsAffected() == 0:
			return notFoundWebhook()
		}
		return nil
	})
}

// ClaimDeliveries implements sentstub.DeliveryStore, in one statement.
func (s *PostgresStore) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) (claimed []sentstub.Claimed, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.claimDeliveriesWithin(ctx, now, until, limit)
}

func (s *PostgresStore) claimDeliveriesWithin(ctx context.Context, now, until time.Time, limit int) ([]sentstub.Claimed, error) {
	claimed := []sentstub.Claimed{}
	if limit <= 0 {
		return claimed, nil
	}
	lease := uuid.New()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, postgresClaimDeliveries, now, limit, lease, until)
		if err != nil {
			return fmt.Errorf("postgres: claim deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ws postgresWebhookScan
			d, err := scanPostgresDelivery(rows, ws.dest()...)
			if err != nil {
				return err
			}
			w, err := ws.webhook()
			if err != nil {
				return err
			}
			claimed = append(claimed, sentstub.Claimed{Delivery: d, Webhook: w, Lease: lease})
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: claim deliveries: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// FinishDelivery implements sentstub.DeliveryStore. It locks the webhook,
// then the delivery (see the locks above), and returns ECONFLICT or
// ENOTFOUND before it writes anything: inside an idempotent request's
// transaction a failure leaves no write of its own behind.
func (s *PostgresStore) FinishDelivery(ctx context.Context, id, lease uuid.UUID, record func(*sentstub.Delivery, *sentstub.Webhook) bool) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.finishDeliveryWithin(ctx, id, lease, record)
}

func (s *PostgresStore) finishDeliveryWithin(ctx context.Context, id, lease uuid.UUID, record func(*sentstub.Delivery, *sentstub.Webhook) bool) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		w, err := scanPostgresWebhook(tx.QueryRow(ctx, postgresLockDeliveryWebhook, id))
		if sentstub.ErrorCode(err) == sentstub.ENOTFOUND {
			return notFoundDelivery() // with its webhook, or on its own
		}
		if err != nil {
			return err
		}
		var held *uuid.UUID
		d, err := scanPostgresDelivery(tx.QueryRow(ctx, postgresLockDelivery, id), &held)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundDelivery()
		}
		if err != nil {
			return err
		}
		if held == nil || *held != lease {
			return leaseLost()
		}
		webhookID := w.ID
		disabled := record(d, w)
		args, err := postgresUpdateWebhookArgs(webhookID, w)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, postgresFinishDelivery, string(d.Status), d.Attempts, d.HTTPStatusCode,
			responseBytes(d.ResponseBody), d.ErrorMessage, d.ProcessingStartedAt, d.ProcessingCompletedAt,
			d.NextAttemptAt, id); err != nil {
			return fmt.Errorf("postgres: finish delivery: %w", err)
		}
		if _, err := tx.Exec(ctx, postgresUpdateWebhook, args...); err != nil {
			return fmt.Errorf("postgres: update webhook: %w", err)
		}
		if disabled {
			if _, err := tx.Exec(ctx, postgresDropDeliveries, droppedReason, webhookID, id); err != nil {
				return fmt.Errorf("postgres: drop deliveries: %w", err)
			}
		}
		return nil
	})
}

// ReleaseDeliveries implements sentstub.DeliveryStore.
func (s *PostgresStore) ReleaseDeliveries(ctx context.Context, lease uuid.UUID, ids []uuid.UUID) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.releaseDeliveriesWithin(ctx, lease, ids)
}

func (s *PostgresStore) releaseDeliveriesWithin(ctx context.Context, lease uuid.UUID, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, postgresReleaseDeliveries, ids, lease); err != nil {
			return fmt.Errorf("postgres: release deliveries: %w", err)
		}
		return nil
	})
}
