package troupe

// handlePush turns a pushed frame into events. It runs on the read loop; an
// error means the connection must be dropped.
func (c *Client) handlePush(f *inFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch f.Type {
	case typeMessage:
		if f.Msg == nil {
			return nil
		}
		return c.roomPushLocked(f.Room, []wireMsg{*f.Msg})
	case typeBatch:
		return c.roomPushLocked(f.Room, f.Msgs)
	case typePresenceDiff:
		return c.pushLocked(PresenceEvent{Room: f.Room, Joins: f.Joins, Leaves: f.Leaves, States: connStates(f.States)})
	case typeSignal:
		// Ephemeral: a full event queue drops it rather than the connection.
		if !c.queueFullLocked() {
			c.enqueueLocked(SignalEvent{Room: f.Room, User: f.User, Conn: f.Conn, Key: f.Key, Data: nullToNil(f.Data)})
		}
	case typeTyping:
		return c.pushLocked(TypingEvent{Room: f.Room, User: f.User, On: f.On})
	case typeDirect:
		return c.pushLocked(DirectEvent{From: f.From, Text: f.Text, Data: nullToNil(f.Data), TS: f.TS})
	case typeNotify:
		return c.pushLocked(NotifyEvent{Event: f.Event, Data: nullToNil(f.Data), TS: f.TS})
	case typeSystem:
		return c.pushLocked(SystemEvent{Room: f.Room, Event: f.Event, Text: f.Text})
	case typeRoomClosed:
		delete(c.rooms, f.Room)
		c.enqueueLocked(RoomClosedEvent{Room: f.Room, Reason: f.Reason})
		c.notifyLocked()
	case typeError:
		c.enqueueLocked(ErrorEvent{Err: &ServerError{Code: f.Code, Message: f.Message}})
	default:
		c.log.Debug("ignoring an unknown frame", "type", f.Type)
	}
	return nil
}

// pushLocked queues an ephemeral pushed event.
func (c *Client) pushLocked(ev Event) error {
	if c.queueFullLocked() {
		return ErrEventOverflow
	}
	c.enqueueLocked(ev)
	return nil
}

// roomPushLocked delivers pushed messages of a room in offset order.
func (c *Client) roomPushLocked(name string, msgs []wireMsg) error {
	r := c.rooms[name]
	if r == nil {
		return nil // left, or closed: not ours any more
	}
	if !r.ready {
		r.held = append(r.held, roomMessages(name, msgs)...)
		if len(r.held) > c.opts.MaxQueuedEvents {
			return ErrEventOverflow
		}
		return nil
	}
	for i := range msgs {
		if err := c.deliverLocked(r, msgs[i].roomMessage(name), false); err != nil {
			return err
		}
	}
	return nil
}
