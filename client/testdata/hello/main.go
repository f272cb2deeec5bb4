// Command hello is the smallest program a user of package client writes:
// one ToggleWebhookStatus call, configured from SENT_DM_API_KEY and
// SENT_BASE_URL. TestHelloWorldDependencies builds it in a module of its
// own, as a user would, and scripts/client-size.sh compares its size with
// hello-nethttp, the same call written with net/http and encoding/json.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/sentstub/sentstub/client"
)

func main() {
	c, err := client.New()
	if err != nil {
		log.Fatal(err)
	}
	wh, err := c.ToggleWebhookStatus(context.Background(), "d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8",
		client.ToggleStatusParams{IsActive: client.Bool(false)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(wh.DisplayName, "is_active:", wh.IsActive)
}
