package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub/api/apitime"
	"github.com/sentstub/sentstub/gen"
	"github.com/sentstub/sentstub/server"
)

// The hand-written encoder of the hot answers writes what the generated
// response type (json.Encoder over gen.WebhookResponse) writes, byte for
// byte, over random webhooks with every optional field both ways and
// strings that need escaping. A field added to the spec's Webhook makes
// this fail until the encoder writes it.
func TestWebhookAnswerEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "Orders", "a\"b\\c", "<script>&amp;", "tab\there\nnewline", "é ünïcode ✓", "\u2028\u2029", "bad \xff utf8", "\x00\x1f"}
	pick := func() string { return strs[rng.IntN(len(strs))] }
	ts := func() *apitime.Time {
		if rng.IntN(2) == 0 {
			return nil
		}
		v := apitime.New(time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).Truncate(time.Duration(rng.IntN(3)) * time.Microsecond))
		return &v
	}
	for i := range 2000 {
		w := gen.Webhook{ID: uuid.New(), DisplayName: pick(), EndpointURL: pick(), IsActive: rng.IntN(2) == 0,
			RetryCount: rng.IntN(6), TimeoutSeconds: rng.IntN(121), ConsecutiveFailures: rng.IntN(100),
			LastDeliveryAttemptAt: ts(), LastSuccessfulDeliveryAt: ts(), UpdatedAt: ts()}
		w.CreatedAt = apitime.New(time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(time.FixedZone("X", 3600)))
		if rng.IntN(2) == 0 {
			s := pick()
			w.SigningSecret = &s
		}
		switch rng.IntN(3) {
		case 0:
			w.EventTypes = []string{pick(), pick()}
		case 1:
			w.EventTypes = []string{}
		}
		if rng.IntN(2) == 0 {
			f := map[string][]string{pick(): {pick()}, "message": {"delivered", "failed"}, "a": {}}
			w.EventFilters = &f
		}
		body := gen.WebhookResponse{Success: rng.IntN(2) == 0, Data: w,
			Meta: gen.Meta{RequestID: "req_" + fmt.Sprint(i), Timestamp: apitime.RequestTime{Time: time.Now()}, Version: gen.V3}}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(body); err != nil {
			t.Fatal(err)
		}
		got := append(server.AppendWebhookResponse(nil, &body), '\n')
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("webhook %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
	}
}
