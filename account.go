package sentstub

import (
	"crypto/sha256"

	"github.com/google/uuid"
)

// Account is a customer of the API: an organization, or one of its profiles.
type Account struct {
	ID uuid.UUID
	// OrganizationID is the parent organization of a profile, and uuid.Nil
	// for an organization.
	OrganizationID uuid.UUID
	Name           string
}

// IsProfile reports whether a is a profile rather than an organization.
func (a *Account) IsProfile() bool { return a.OrganizationID != uuid.Nil }

// KeyHash is the SHA-256 of an API key. Stores keep only hashes: API keys are
// long random tokens, so a fast unsalted hash is enough to make a leaked
// database useless for authentication, and it keeps lookups to one index probe.
type KeyHash [sha256.Size]byte

// HashAPIKey returns the hash a store keeps for key.
func HashAPIKey(key string) KeyHash { return sha256.Sum256([]byte(key)) }
