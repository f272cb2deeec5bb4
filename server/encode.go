package server

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/sentstub/sentstub/api/apitime"
	"github.com/sentstub/sentstub/gen"
)

// webhookAnswer is the 200 answer with one webhook (retrieve, update and
// toggle, the hot path). It writes exactly what the generated response type
// writes, byte for byte (TestWebhookAnswerEncoding holds it to that), with
// an encoder written for gen.WebhookResponse instead of reflection: encoding
// was a tenth of a request's time, most of it in encoding/json validating
// what the timestamps' MarshalJSON wrote.
type webhookAnswer struct {
	body    gen.WebhookResponse
	sandbox bool // X-Sandbox: true
}

func (a webhookAnswer) VisitRetrieveWebhookResponse(w http.ResponseWriter) error { return a.write(w) }
func (a webhookAnswer) VisitUpdateWebhookResponse(w http.ResponseWriter) error   { return a.write(w) }
func (a webhookAnswer) VisitToggleWebhookStatusResponse(w http.ResponseWriter) error {
	return a.write(w)
}

var jsonContentType = []string{"application/json"}

var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (a webhookAnswer) write(w http.ResponseWriter) error {
	bp := answerBuffers.Get().(*[]byte)
	defer answerBuffers.Put(bp)
	b := appendWebhookResponse((*bp)[:0], &a.body)
	b = append(b, '\n') // as json.Encoder ends its output
	*bp = b
	h := w.Header()
	h["Content-Type"] = jsonContentType
	// begin has set X-Request-Id and X-API-Version, which the generated
	// type would set again to the same values; X-Response-Time is written as
	// the header goes out.
	if a.sandbox {
		h.Set(headerSandbox, "true")
	}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

// appendWebhookResponse appends r as encoding/json encodes it.
func appendWebhookResponse(b []byte, r *gen.WebhookResponse) []byte {
	b = append(b, `{"success":`...)
	b = strconv.AppendBool(b, r.Success)
	b = append(b, `,"data":`...)
	b = appendWebhook(b, &r.Data)
	if r.Error == nil {
		b = append(b, `,"error":null`...)
	} else {
		b = append(b, `,"error":{}`...)
	}
	b = append(b, `,"meta":{"request_id":`...)
	b = appendJSONString(b, r.Meta.RequestID)
	b = append(b, `,"timestamp":"`...)
	b = apitime.AppendRequestFormat(b, r.Meta.Timestamp.Time)
	b = append(b, `","version":`...)
	b = appendJSONString(b, string(r.Meta.Version))
	return append(b, "}}"...)
}

func appendWebhook(b []byte, w *gen.Webhook) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, w.ID.String()...)
	b = append(b, `","display_name":`...)
	b = appendJSONString(b, w.DisplayName)
	b = append(b, `,"endpoint_url":`...)
	b = appendJSONString(b, w.EndpointURL)
	b = append(b, `,"signing_secret":`...)
	if w.SigningSecret == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *w.SigningSecret)
	}
	b = append(b, `,"is_active":`...)
	b = strconv.AppendBool(b, w.IsActive)
	b = append(b, `,"event_types":`...)
	b = appendStrings(b, w.EventTypes)
	b = append(b, `,"event_filters":`...)
	if w.EventFilters == nil || *w.EventFilters == nil {
		b = append(b, "null"...)
	} else {
		filters := *w.EventFilters
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(filters)) { // encoding/json sorts map keys
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendStrings(b, filters[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"retry_count":`...)
	b = strconv.AppendInt(b, int64(w.RetryCount), 10)
	b = append(b, `,"timeout_seconds":`...)
	b = strconv.AppendInt(b, int64(w.TimeoutSeconds), 10)
	b = append(b, `,"last_delivery_attempt_at":`...)
	b = appendTime(b, w.LastDeliveryAttemptAt)
	b = append(b, `,"last_successful_delivery_at":`...)
	b = appendTime(b, w.LastSuccessfulDeliveryAt)
	b = append(b, `,"consecutive_failures":`...)
	b = strconv.AppendInt(b, int64(w.ConsecutiveFailures), 10)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, &w.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, w.UpdatedAt)
	return append(b, '}')
}

func appendTime(b []byte, t *apitime.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = apitime.AppendFormat(b, t.Time)
	return append(b, '"')
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML characters included); plain ASCII, the usual case, is
// copied as is.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
