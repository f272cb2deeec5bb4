package delivery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/server/delivery"
)

func TestSignVerifiesWithTheLibrary(t *testing.T) {
	secret := sentstub.NewSigningSecret()
	id, ts, body := uuid.New(), time.Now(), []byte(`{"id":"x","type":"message.delivered"}`)
	sig, err := delivery.Sign(secret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	h := http.Header{}
	h.Set("webhook-id", id.String())
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	if err := wh.Verify(body, h); err != nil {
		t.Errorf("Verify: %v (signature %s)", err, sig)
	}
	h.Set("webhook-id", uuid.NewString()) // the webhook's id is signed
	if err := wh.Verify(body, h); err == nil {
		t.Errorf("a signature verified for another webhook id")
	}
}

// The log keeps the start of a large answer, cut at a character boundary.
func TestSendKeepsTheStartOfTheAnswer(t *testing.T) {
	answer := strings.Repeat("é", delivery.MaxResponseBody) // 2 bytes each
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(answer))
	}))
	defer rc.Close()
	s := delivery.NewSender("sentstub/test", nil)
	a := s.Send(context.Background(), delivery.Message{WebhookID: uuid.New(), EventID: uuid.New(), EventType: "message.test",
		Body: []byte(`{}`), URL: rc.URL, Secret: sentstub.NewSigningSecret(), Timeout: 5 * time.Second})
	if !a.Delivered || a.StatusCode == nil || *a.StatusCode != http.StatusAccepted {
		t.Fatalf("attempt = %+v", a)
	}
	if n := len(*a.ResponseBody); n > delivery.MaxKeptResponse || n < delivery.MaxKeptResponse-1 || !utf8.ValidString(*a.ResponseBody) {
		t.Errorf("kept %d bytes (valid UTF-8 %v), want about %d", n, utf8.ValidString(*a.ResponseBody), delivery.MaxKeptResponse)
	}
	if !a.Completed.After(a.Started) && !a.Completed.Equal(a.Started) {
		t.Errorf("completed %v before started %v", a.Completed, a.Started)
	}
}
