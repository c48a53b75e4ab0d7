package wire

import (
	"encoding/base64"
	"strconv"

	"github.com/troupe-chat/troupe/actors"
)

// The encodings of the shared-document replies.

// appendDocSync appends {"type":"doc_sync","id","room","snapshot"?,
// "updates","offset","more","gap"?}: snapshot only when the reply has one,
// gap only when true.
func appendDocSync(dst []byte, v *actors.DocSyncReply) []byte {
	dst = appendHead(dst, `{"type":"doc_sync"`, v.ID)
	dst = append(dst, `,"room":`...)
	dst = AppendString(dst, v.Room)
	if s := v.Snapshot; s != nil {
		dst = append(dst, `,"snapshot":{"offset":`...)
		dst = strconv.AppendUint(dst, s.Offset, 10)
		dst = append(dst, `,"data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, s.Data)
		dst = append(dst, `","ts":`...)
		dst = strconv.AppendInt(dst, s.TS, 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"updates":`...)
	dst = appendMessages(dst, v.Updates)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, v.Offset, 10)
	dst = append(dst, `,"more":`...)
	dst = strconv.AppendBool(dst, v.More)
	if v.Gap {
		dst = append(dst, `,"gap":true`...)
	}
	return append(dst, '}')
}

// appendDocSnapshot appends {"type":"doc_snapshot","id","room","offset","stored"}.
func appendDocSnapshot(dst []byte, v *actors.DocSnapshotReply) []byte {
	dst = appendHead(dst, `{"type":"doc_snapshot"`, v.ID)
	dst = append(dst, `,"room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, v.Offset, 10)
	dst = append(dst, `,"stored":`...)
	dst = strconv.AppendBool(dst, v.Stored)
	return append(dst, '}')
}

// docSyncHint estimates the encoded size of a doc_sync reply.
func docSyncHint(v *actors.DocSyncReply) int {
	n := messagesHint(v.Updates)
	if v.Snapshot != nil {
		n += 64 + base64.StdEncoding.EncodedLen(len(v.Snapshot.Data))
	}
	return n
}
