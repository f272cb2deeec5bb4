package client

import (
	"encoding/json"
	"time"
)

// The types in this file are what the client's methods return. They are
// the package's own, written for Go callers: ids are strings (the API
// writes them as lower-case UUIDs, and every method takes an id as a
// string), timestamps are time.Time in UTC, and a JSON null is a nil
// pointer, map or slice, or the zero value where the zero value cannot be
// mistaken for a real one (an empty SigningSecret, a zero HTTPStatusCode).
// The generated models they are converted from (package gen/client) are
// not part of the client's API; convert.go is the one place that reads
// them.

// Webhook is a webhook as the API returns it.
type Webhook struct {
	// ID is the webhook's id, a lower-case UUID such as
	// "d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8". Deliveries carry it as
	// x-webhook-id.
	ID string
	// DisplayName is a name for people.
	DisplayName string
	// EndpointURL is where deliveries go, an http or https URL.
	EndpointURL string
	// SigningSecret is the secret deliveries are signed with, "whsec_"
	// followed by base64. Only CreateWebhook and RotateWebhookSecret show
	// it; it is empty in every other answer (the API sends null).
	SigningSecret string
	// IsActive is false after an explicit deactivation, or after the
	// webhook disabled itself (ten consecutive failed deliveries).
	IsActive bool
	// EventTypes are the event families it receives, such as "message"
	// and "templates" (see ListWebhookEventTypes).
	EventTypes []string
	// EventFilters are, per family, the sub-types it receives, such as
	// {"message": {"delivered", "failed"}}. nil means every event of its
	// families.
	EventFilters map[string][]string
	// RetryCount is how many times a failed delivery is retried (1 to 5).
	RetryCount int
	// TimeoutSeconds is how long a delivery waits for the receiver (5 to
	// 120).
	TimeoutSeconds int
	// LastDeliveryAttemptAt is when a delivery was last attempted; nil if
	// never.
	LastDeliveryAttemptAt *time.Time
	// LastSuccessfulDeliveryAt is when a delivery last succeeded; nil if
	// never.
	LastSuccessfulDeliveryAt *time.Time
	// ConsecutiveFailures counts the failed deliveries since the last
	// success; at ten the webhook turns itself inactive.
	ConsecutiveFailures int
	// CreatedAt is when the webhook was created.
	CreatedAt time.Time
	// UpdatedAt is when it last changed; nil if the API sent null.
	UpdatedAt *time.Time
}

// DeliveryStatus is the state of an entry of a delivery log.
type DeliveryStatus string

// The values of WebhookEvent.DeliveryStatus.
const (
	DeliveryPending   DeliveryStatus = "pending"   // not delivered yet; retries may follow
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // every attempt failed
)

// WebhookEvent is an entry of a webhook's delivery log: one event and what
// came of delivering it.
type WebhookEvent struct {
	// ID is the log entry's id, a lower-case UUID.
	ID string
	// EventType is the event's full type, such as "message.delivered"
	// ("message.test" for a test delivery).
	EventType string
	// EventData is the JSON body that was delivered; its "id" is the event
	// id that the delivery carried as x-webhook-event-id.
	EventData json.RawMessage
	// DeliveryStatus is pending, delivered or failed.
	DeliveryStatus DeliveryStatus
	// DeliveryAttempts counts the attempts made so far.
	DeliveryAttempts int
	// HTTPStatusCode is the receiver's status on the latest attempt; 0 when
	// it did not answer.
	HTTPStatusCode int
	// ResponseBody is the start of the receiver's answer to the latest
	// attempt; empty when it sent none or did not answer.
	ResponseBody string
	// ErrorMessage says in plain words what went wrong on the latest
	// attempt; empty when nothing did.
	ErrorMessage string
	// ProcessingStartedAt and ProcessingCompletedAt bound the delivery's
	// processing; nil until it started, or until it ended.
	ProcessingStartedAt   *time.Time
	ProcessingCompletedAt *time.Time
	// CreatedAt is when the event was logged.
	CreatedAt time.Time
}

// EventType is an event type a webhook can subscribe to: a family (its
// Name goes in CreateWebhookParams.EventTypes) with its sub-types (their
// names go in EventFilters), or one of those sub-types.
type EventType struct {
	// Name is the family ("message") or the sub-type's bare word
	// ("delivered").
	Name string
	// DisplayName is a name for people.
	DisplayName string
	// Description says what the events are.
	Description string
	// EventType is the family, or the full type of a sub-type
	// ("message.delivered").
	EventType string
	// IsActive reports whether events of this type are sent.
	IsActive bool
	// SubTypes are a family's sub-types; nil for a sub-type.
	SubTypes []EventType
}

// Pagination describes a page of a list.
type Pagination struct {
	// Page is the page's number, from 1.
	Page int
	// PageSize is how many items a page holds (the last may hold fewer).
	PageSize int
	// TotalCount is how many items the whole list has.
	TotalCount int
	// TotalPages is how many pages of PageSize the whole list makes.
	TotalPages int
	// HasMore reports whether pages follow this one.
	HasMore bool
	// Cursors are the API's cursors to the neighbouring pages; nil when it
	// sends none (sentstub never does: its pages are numbered).
	Cursors *Cursors
}

// Cursors point to the pages before and after a page; an empty one means
// there is none.
type Cursors struct {
	Before string
	After  string
}

// TestResult is what a test delivery (TestWebhook) found.
type TestResult struct {
	// Success reports whether the receiver answered 2xx.
	Success bool
	// Message says what happened in plain words: the status code, a
	// timeout, a refused connection.
	Message string
}

// WebhookPage is a page of ListWebhooks.
type WebhookPage struct {
	Webhooks   []Webhook
	Pagination Pagination
}

// WebhookEventPage is a page of ListWebhookEvents.
type WebhookEventPage struct {
	Events     []WebhookEvent
	Pagination Pagination
}
