package actors

import "sync/atomic"

// mailboxDepth counts the messages waiting in (or being handled from) one
// actor's mailbox: protoactor cannot tell a mailbox's length from its PID, so
// a mailbox middleware counts posts and receipts.
type mailboxDepth struct {
	n atomic.Int64
}

// MailboxStarted implements actor.MailboxMiddleware.
func (d *mailboxDepth) MailboxStarted() {}

// MessagePosted implements actor.MailboxMiddleware.
func (d *mailboxDepth) MessagePosted(any) { d.n.Add(1) }

// MessageReceived implements actor.MailboxMiddleware.
func (d *mailboxDepth) MessageReceived(any) { d.n.Add(-1) }

// MailboxEmpty implements actor.MailboxMiddleware.
func (d *mailboxDepth) MailboxEmpty() {}

// Crashed accounts for the message an actor panicked on: protoactor's mailbox
// recovers the panic without telling the middleware it was received.
func (d *mailboxDepth) Crashed() { d.n.Add(-1) }

// Load returns the current depth.
func (d *mailboxDepth) Load() int { return int(max(d.n.Load(), 0)) }
