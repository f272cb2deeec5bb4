package server

// AppendWebhookResponse is the hot answers' encoder, for the test that holds
// it to encoding/json's output.
var AppendWebhookResponse = appendWebhookResponse

// AppendAccessLine is the access log's formatter, for the test that holds
// it to slog's text format.
var AppendAccessLine = appendAccessLine
