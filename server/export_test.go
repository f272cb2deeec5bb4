package server

// AppendWebhookResponse is the hot answers' encoder, for the test that holds
// it to encoding/json's output.
var AppendWebhookResponse = appendWebhookResponse
