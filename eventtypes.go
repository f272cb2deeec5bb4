package sentstub

import (
	"slices"
	"strings"
)

// EventFamily is a family of events a webhook subscribes to, such as
// "message", with the sub-types its events carry ("message.delivered").
type EventFamily struct {
	Name        string
	DisplayName string
	Description string
	SubTypes    []EventSubType
}

// EventSubType is one kind of event of a family.
type EventSubType struct {
	Name        string // the bare word: "delivered"
	DisplayName string
	Description string
}

// EventFamilies is the catalog of GET /v3/webhooks/event-types, in the order
// it is listed. Subscriptions (event_types) name families; filters
// (event_filters) name sub-types by their bare word.
var EventFamilies = []EventFamily{
	{Name: "message", DisplayName: "Messages", Description: "Status changes of messages sent and received through any channel.",
		SubTypes: []EventSubType{
			{"sent", "Message sent", "The message was handed to the channel's provider."},
			{"delivered", "Message delivered", "The provider confirmed delivery to the recipient."},
			{"read", "Message read", "The recipient opened the message (channels that report reads)."},
			{"failed", "Message failed", "The message could not be delivered."},
			{"received", "Message received", "An inbound message arrived from a contact."},
		}},
	{Name: "templates", DisplayName: "Templates", Description: "Review and status changes of message templates.",
		SubTypes: []EventSubType{
			{"submitted", "Template submitted", "The template was submitted for review."},
			{"approved", "Template approved", "The channel approved the template."},
			{"rejected", "Template rejected", "The channel rejected the template."},
			{"paused", "Template paused", "The channel paused the template for its quality."},
		}},
	{Name: "contact", DisplayName: "Contacts", Description: "Changes to contacts and their consent.",
		SubTypes: []EventSubType{
			{"created", "Contact created", "A contact was added."},
			{"updated", "Contact updated", "A contact's details changed."},
			{"deleted", "Contact deleted", "A contact was removed."},
			{"opted_out", "Contact opted out", "A contact withdrew consent to be messaged."},
			{"opted_in", "Contact opted in", "A contact gave consent to be messaged."},
		}},
	{Name: "channel", DisplayName: "Channels", Description: "Connection and setup changes of messaging channels.",
		SubTypes: []EventSubType{
			{"connected", "Channel connected", "A channel finished its setup and can send."},
			{"disconnected", "Channel disconnected", "A channel can no longer send."},
			{"updated", "Channel updated", "A channel's settings or quality rating changed."},
		}},
	{Name: "link", DisplayName: "Links", Description: "Activity on tracked links in messages.",
		SubTypes: []EventSubType{
			{"clicked", "Link clicked", "A recipient opened a tracked link."},
		}},
	{Name: "call", DisplayName: "Calls", Description: "Voice calls placed and received.",
		SubTypes: []EventSubType{
			{"started", "Call started", "A call was answered."},
			{"completed", "Call completed", "A call ended normally."},
			{"missed", "Call missed", "A call was not answered."},
			{"failed", "Call failed", "A call could not be connected."},
		}},
}

// messagesAlias is the seed's spelling of the message family, accepted
// everywhere as another name of it and kept as written.
const messagesAlias = "messages"

// CanonicalFamily returns the family name that name stands for ("messages"
// is "message"), and whether it names a family at all.
func CanonicalFamily(name string) (string, bool) {
	if f := findFamily(name); f != nil {
		return f.Name, true
	}
	return name, false
}

// findFamily returns the family that name stands for, by any of its names,
// or nil.
func findFamily(name string) *EventFamily {
	if name == messagesAlias {
		name = "message"
	}
	for i := range EventFamilies {
		if EventFamilies[i].Name == name {
			return &EventFamilies[i]
		}
	}
	return nil
}

func (f *EventFamily) hasSubType(sub string) bool {
	return slices.ContainsFunc(f.SubTypes, func(s EventSubType) bool { return s.Name == sub })
}

// HasSubType reports whether the family (by any of its names) has the
// sub-type with the bare name sub.
func HasSubType(family, sub string) bool {
	f := findFamily(family)
	return f != nil && f.hasSubType(sub)
}

// ParseEventType splits a full event type such as "message.delivered" into
// its canonical family and sub-type, and reports whether both are known.
func ParseEventType(t string) (family, sub string, ok bool) {
	name, sub, found := strings.Cut(t, ".")
	f := findFamily(name)
	if !found || f == nil || !f.hasSubType(sub) {
		return "", "", false
	}
	return f.Name, sub, true
}
