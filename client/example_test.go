package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/sentstub/sentstub/client"
	"github.com/sentstub/sentstub/fixtures"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store"
)

// exampleServer starts sentstub in-process, over an in-memory database
// loaded with the demo fixture. In real use the base URL is
// https://api.sent.dm or a sentstub started with `sentstub --db :memory:`.
func exampleServer() (srv *httptest.Server, stop func()) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, ":memory:", store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	p, err := fixtures.Parse(bytes.NewReader(fixtures.Demo), time.Now())
	if err != nil {
		log.Fatal(err)
	}
	if err := st.Provision(ctx, p); err != nil {
		log.Fatal(err)
	}
	h, err := server.New(server.Config{Store: st})
	if err != nil {
		log.Fatal(err)
	}
	srv = httptest.NewServer(h)
	return srv, func() { srv.Close(); st.Close() }
}

func ExampleNew() {
	srv, stop := exampleServer()
	defer stop()

	// Without options, New reads SENT_DM_API_KEY and SENT_BASE_URL.
	c, err := client.New(
		client.WithAPIKey("sk_test_acme_org"),
		client.WithBaseURL(srv.URL),
		client.WithMaxRetries(2),           // 3 attempts at most
		client.WithTimeout(10*time.Second), // for each call, retries included
	)
	if err != nil {
		log.Fatal(err)
	}
	wh, err := c.ToggleWebhookStatus(context.Background(), "d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8",
		client.ToggleStatusParams{IsActive: client.Bool(false)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(wh.DisplayName, "is_active:", wh.IsActive)
	// Output: Order Notifications is_active: false
}

func ExampleClient_ToggleWebhookStatus() {
	srv, stop := exampleServer()
	defer stop()
	c, err := client.New(client.WithAPIKey("sk_test_acme_org"), client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	const id = "d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8"

	// No IsActive: flip the current state (active, in the demo data).
	wh, err := c.ToggleWebhookStatus(ctx, id, client.ToggleStatusParams{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after flip:", wh.IsActive)

	// An explicit state is set, whatever the current one; setting it twice
	// changes nothing the second time.
	for range 2 {
		if wh, err = c.ToggleWebhookStatus(ctx, id, client.ToggleStatusParams{IsActive: client.Bool(true)}); err != nil {
			log.Fatal(err)
		}
		fmt.Println("after set true:", wh.IsActive)
	}

	// Sandbox: the answer a real flip would give, and nothing written.
	if wh, err = c.ToggleWebhookStatus(ctx, id, client.ToggleStatusParams{Sandbox: true}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sandbox flip answers:", wh.IsActive)

	// Act for a profile of the organization: Acme EU owns this webhook.
	wh, err = c.ToggleWebhookStatus(ctx, "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", client.ToggleStatusParams{
		ProfileID:      "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		IsActive:       client.Bool(false),
		IdempotencyKey: "eu-templates-off-2026-03-11", // optional; one is generated if empty
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(wh.DisplayName, "is_active:", wh.IsActive)
	// Output:
	// after flip: false
	// after set true: true
	// after set true: true
	// sandbox flip answers: false
	// EU Template Updates is_active: false
}

func ExampleError() {
	srv, stop := exampleServer()
	defer stop()
	c, err := client.New(client.WithAPIKey("sk_test_acme_org"), client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}

	// Globex's webhook does not exist for Acme.
	_, err = c.ToggleWebhookStatus(context.Background(), "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", client.ToggleStatusParams{})
	var apiErr *client.Error
	switch {
	case client.IsNotFound(err):
		fmt.Println("no such webhook")
	case errors.As(err, &apiErr) && apiErr.Code == client.CodeInvalidAPIKey:
		fmt.Println("check SENT_DM_API_KEY")
	case err != nil:
		fmt.Println("failed:", err)
	}
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, apiErr.Message)
		fmt.Println(apiErr.DocURL)
		fmt.Println("request id to quote:", apiErr.RequestID != "")
	}

	// A malformed id is refused before any request, with a plain error.
	_, err = c.ToggleWebhookStatus(context.Background(), "webhook-1", client.ToggleStatusParams{})
	fmt.Println(errors.As(err, &apiErr), err)
	// Output:
	// no such webhook
	// 404 RESOURCE_008 Webhook not found
	// https://docs.sent.dm/errors/RESOURCE_008
	// request id to quote: true
	// false sentdm: toggle webhook status: webhook id "webhook-1" is not a uuid: invalid UUID length: 9
}

func ExampleIsNotFound() {
	srv, stop := exampleServer()
	defer stop()
	c, err := client.New(client.WithAPIKey("sk_test_acme_org"), client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.ToggleWebhookStatus(context.Background(), "00000000-0000-4000-8000-000000000000", client.ToggleStatusParams{})
	fmt.Println(client.IsNotFound(err))
	// Output: true
}

func ExampleWithResponseInto() {
	srv, stop := exampleServer()
	defer stop()
	c, err := client.New(client.WithAPIKey("sk_test_acme_org"), client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	const id = "d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8"
	// The same Idempotency-Key twice, as after a crash and a restart: the
	// second call is answered with the first one's stored answer.
	params := client.ToggleStatusParams{IsActive: client.Bool(false), IdempotencyKey: "order-42-disable"}

	var first, again client.ResponseMeta
	if _, err := c.ToggleWebhookStatus(ctx, id, params, client.WithResponseInto(&first)); err != nil {
		log.Fatal(err)
	}
	if _, err := c.ToggleWebhookStatus(ctx, id, params, client.WithResponseInto(&again)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("first:", first.StatusCode, "replayed:", first.IdempotentReplayed)
	fmt.Println("again:", again.StatusCode, "replayed:", again.IdempotentReplayed,
		"original request:", again.OriginalRequestID == first.RequestID)

	// A sandbox answer says so; an error carries its answer's metadata too.
	var meta client.ResponseMeta
	if _, err := c.ToggleWebhookStatus(ctx, id, client.ToggleStatusParams{Sandbox: true}, client.WithResponseInto(&meta)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sandbox:", meta.Sandbox)
	_, err = c.RetrieveWebhook(ctx, "00000000-0000-4000-8000-000000000000", client.Scope{})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println("error:", apiErr.Response.StatusCode, "attempts:", apiErr.Response.Attempts)
	}
	// Output:
	// first: 200 replayed: false
	// again: 200 replayed: true original request: true
	// sandbox: true
	// error: 404 attempts: 1
}
