// Command hello-nethttp makes the call of ../hello with net/http and
// encoding/json alone: the baseline scripts/client-size.sh measures the
// client's hello world against.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
)

func main() {
	req, err := http.NewRequest(http.MethodPatch, os.Getenv("SENT_BASE_URL")+
		"/v3/webhooks/d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8/toggle-status", strings.NewReader(`{"is_active":false}`))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("x-api-key", os.Getenv("SENT_DM_API_KEY"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			DisplayName string `json:"display_name"`
			IsActive    bool   `json:"is_active"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("%s", resp.Status)
	}
	fmt.Println(out.Data.DisplayName, "is_active:", out.Data.IsActive)
}
