// Command receiver is the ten-line webhook receiver of the README: it
// verifies each delivery with the Standard Webhooks library and logs it;
// FAIL=1 makes it answer 500, to watch retries.
package main

import (
	"io"
	"log"
	"net/http"
	"os"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	wh, err := standardwebhooks.NewWebhook(os.Getenv("SECRET")) // the webhook's whsec_... secret
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:9000", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := http.Header{}
		for _, name := range []string{"id", "timestamp", "signature"} { // sent.dm's x-webhook-* are webhook-*
			h.Set("webhook-"+name, r.Header.Get("x-webhook-"+name))
		}
		log.Printf("%s %s verified=%v %s", r.Header.Get("x-webhook-event-type"), r.Header.Get("x-webhook-event-id"), wh.Verify(body, h) == nil, body)
		if os.Getenv("FAIL") != "" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})))
}
