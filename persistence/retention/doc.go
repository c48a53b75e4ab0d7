// Package retention trims old room history: a Policy says how much of each
// room's stream to keep (at most MaxCount messages, none older than MaxAge),
// ParsePolicy reads one from a flag value, and a Runner applies it to every
// room of a persistence.Store now and then, through Store.Trim, in small
// batches so that trimming never holds the store for long.
//
// A Runner never trims a room below its latest floor messages (the recovery
// limit: what a room actor reads back on restart), whatever the policy. It
// keeps no metrics; RunOnce reports how many messages a pass trimmed.
package retention
