package postgres

import "github.com/troupe-chat/troupe/persistence"

// messageRows holds message rows column by column, the form
// sqlInsertMessages takes them in.
type messageRows struct {
	room, epoch, id, kind           []string
	offset, ts                      []int64
	fromID, fromName, text, replyTo [][]byte
	data, cid                       [][]byte
}

// add appends the rows of one room's batch.
func (m *messageRows) add(room, epoch string, msgs []persistence.Message) {
	for _, msg := range msgs {
		m.room = append(m.room, room)
		m.epoch = append(m.epoch, epoch)
		m.offset = append(m.offset, int64(msg.Offset))
		m.id = append(m.id, msg.ID)
		m.ts = append(m.ts, msg.TS)
		m.fromID = append(m.fromID, bytea(msg.FromID))
		m.fromName = append(m.fromName, bytea(msg.FromName))
		m.kind = append(m.kind, msg.Kind)
		m.text = append(m.text, bytea(msg.Text))
		var data []byte // NULL unless there is data
		if len(msg.Data) > 0 {
			data = msg.Data
		}
		m.data = append(m.data, data)
		m.replyTo = append(m.replyTo, bytea(msg.ReplyTo))
		m.cid = append(m.cid, bytea(msg.CID))
	}
}

// args returns the columns as sqlInsertMessages's parameters.
func (m *messageRows) args() []any {
	return []any{m.room, m.epoch, m.offset, m.id, m.ts, m.fromID, m.fromName, m.kind,
		m.text, m.data, m.replyTo, m.cid}
}

// bytea returns s as a non-nil byte slice: a nil one would be stored as NULL.
func bytea(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return []byte(s)
}
