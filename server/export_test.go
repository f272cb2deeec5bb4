package server

import (
	"context"

	"github.com/google/uuid"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sentstub/sentstub/api"
	"github.com/sentstub/sentstub/gen"
)

// AppendWebhookResponse is the hot answers' encoder, for the test that holds
// it to encoding/json's output.
var AppendWebhookResponse = appendWebhookResponse

// AppendAccessLine is the access log's formatter, for the test that holds
// it to slog's text format.
var AppendAccessLine = appendAccessLine

// ParamShortcut is one compiled parameter check of an operation's
// validShortcut, with the parameter it was compiled from.
type ParamShortcut struct {
	OperationID string
	Param       *openapi3.Parameter
	Valid       func(value string, present bool) bool
}

// ParamShortcuts lists the compiled checks of every operation of the
// document that New validates with, and the operations whose shortcut
// could not compile every parameter.
func ParamShortcuts() (checks []ParamShortcut, incomplete []string, err error) {
	doc, err := gen.GetSwagger()
	if err != nil {
		return nil, nil, err
	}
	if err := api.Prepare(context.Background(), doc); err != nil {
		return nil, nil, err
	}
	for _, op := range operations(doc) {
		if !op.shortcut.complete {
			incomplete = append(incomplete, op.id)
			continue
		}
		for i, p := range operationParameters(op.route.PathItem, op.route.Operation) {
			checks = append(checks, ParamShortcut{OperationID: op.id, Param: p, Valid: op.shortcut.params[i].valid})
		}
	}
	return checks, incomplete, nil
}

// ByteClassRun is byteClassRun's check of pattern, if it has one.
func ByteClassRun(pattern string) (func(string) bool, bool) {
	set, ok := byteClassRun(pattern)
	if !ok {
		return nil, false
	}
	return set.spans, true
}

// WaitingRoom is the in-process waiting room of idempotent requests.
type WaitingRoom struct{ ic idempotencyConfig }

func NewWaitingRoom() *WaitingRoom {
	return &WaitingRoom{idempotencyConfig{holders: map[idemSlot]holding{}}}
}

func (w *WaitingRoom) Hold(account uuid.UUID, key string) uint64 {
	return w.ic.hold(idemSlot{account, key})
}

func (w *WaitingRoom) Release(account uuid.UUID, key string, hold uint64) {
	w.ic.release(idemSlot{account, key}, hold)
}

func (w *WaitingRoom) Done(account uuid.UUID, key string) <-chan struct{} {
	return w.ic.done(idemSlot{account, key})
}
