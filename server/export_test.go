package server

import (
	"context"
	"net/http"

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
		if !op.shortcut.ok {
			incomplete = append(incomplete, op.id)
			continue
		}
		params := op.route.PathItem.Parameters
		params = append(append(openapi3.Parameters{}, params...), op.route.Operation.Parameters...)
		for _, c := range op.shortcut.params {
			c := c
			for _, ref := range params {
				if p := ref.Value; p.Name == c.name || http.CanonicalHeaderKey(p.Name) == c.name {
					checks = append(checks, ParamShortcut{OperationID: op.id, Param: p, Valid: c.valid})
					break
				}
			}
		}
	}
	return checks, incomplete, nil
}
