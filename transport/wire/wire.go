package wire

import "github.com/troupe-chat/troupe/persistence"

// The troupe wire protocol, declared once. ../../PROTOCOL.md is the contract; this file
// is its summary as code.
//
// Transport: WebSocket at GET /ws, subprotocol "troupe.v1" selected when the
// client offers it. Every application frame is one JSON object in a text frame
// with a string field "type". A request may carry "id", a positive integer; every
// reply to it carries the same id, pushed frames carry none.
//
// Flow of a connection:
//
//	client                                   server
//	hello{token,name,session}      ->
//	                               <-  welcome{session,user,resumed,heartbeat,limits,server_time}
//	                                   (or error invalid|unauthorized; hello may be retried
//	                                   until the hello deadline; any other frame first: close 1008)
//	join{room,password,since,history} ->
//	                               <-  joined{room,epoch,offset,recovered,members,messages}
//	send{room,kind,text,data,reply_to,cid} ->
//	                               <-  ack{room,msg_id,offset,ts,dup}
//	                               <-  message{room,msg} | batch{room,msgs}      (pushed to members)
//	typing{room,on}                ->  typing{room,user,on}                      (pushed to others)
//	signal{room,key,data}          ->  signal{room,user,conn,key,data}           (pushed to the other connections)
//	presence_set{room,state}       ->  presence_diff{…,states}                   (pushed to members)
//	presence{room}                 ->  presence{room,members}; presence_diff{room,joins,leaves} pushed
//	history{room,before|after,limit} -> history{room,msgs,more}
//	rooms{}                        ->  rooms{rooms}
//	direct{to,text,data}           ->  ack{ts}; direct{from,text,data,ts} to the recipient
//	ping{}                         ->  pong{server_time}
//	refresh{token}                 ->  refreshed{exp}
//	leave{room}                    ->  left{room}
//	doc_update{room,data,cid}      ->  ack{room,msg_id,offset,ts,dup}; message{room,msg kind doc} pushed
//	doc_sync{room,after,limit}     ->  doc_sync{room,snapshot?,updates,offset,more,gap?}
//	doc_snapshot{room,offset,data} ->  doc_snapshot{room,offset,stored}
//	                               <-  notify, system, room_closed                (pushed)
//	                               <-  error{id?,code,message}                    (any failed request)
//
// A frame Decode refuses becomes an actors.Rejected, answered with an error frame:
// bad_json (not JSON, not an object, nested deeper than Limits.MaxDepth), bad_frame
// (missing or non-string type, a known field of the wrong JSON type; an id of the
// wrong type is not echoed), unknown_type, invalid (a field breaks a rule; an id
// that is not a positive 64-bit integer is not echoed).

// Version is the protocol version this package speaks.
const Version = 1

// Subprotocol is the WebSocket subprotocol name of this version.
const Subprotocol = "troupe.v1"

// Inbound frame types: the "type" of the frames a client sends.
const (
	TypeHello    = "hello"
	TypeRefresh  = "refresh"
	TypeJoin     = "join"
	TypeLeave    = "leave"
	TypeSend     = "send"
	TypeTyping   = "typing"
	TypePresence = "presence"
	TypeHistory  = "history"
	TypeRooms    = "rooms"
	TypeDirect   = "direct"
	TypePing     = "ping"
	// TypeSignal is an ephemeral signal (a cursor, a selection).
	TypeSignal = "signal"
	// TypePresenceSet sets a connection's presence state in a room.
	TypePresenceSet = "presence_set"
	// TypeDocUpdate appends an update to a room's shared document.
	TypeDocUpdate = "doc_update"
	// TypeDocSync reads a room's shared document.
	TypeDocSync = "doc_sync"
	// TypeDocSnapshot offers a snapshot of a room's shared document.
	TypeDocSnapshot = "doc_snapshot"
)

// Default limits (../../PROTOCOL.md "Names and limits"); a zero field of Limits means
// its default.
const (
	DefaultMaxTextBytes = 8192 // text of send and direct, in UTF-8 bytes
	DefaultMaxCIDBytes  = 64   // cid of send
	DefaultMaxDepth     = 64   // JSON nesting of a frame, the frame object included
	DefaultHistoryMax   = 200  // history.limit ceiling
	// DefaultMaxSignalBytes bounds a signal's data (compact JSON bytes).
	DefaultMaxSignalBytes = 2048
	// DefaultMaxStateBytes bounds a presence state (compact JSON bytes).
	DefaultMaxStateBytes = 1024
	// MaxSignalKeyBytes bounds a signal key: ^[A-Za-z0-9_.:-]{1,32}$.
	MaxSignalKeyBytes = 32
)

// Fixed name rules of the protocol.
const (
	MaxRoomBytes   = 64  // room names: ^[A-Za-z0-9_.:-]{1,64}$
	MaxKindBytes   = 32  // message kinds: ^[a-z][a-z0-9_.-]{0,31}$
	MaxUserIDBytes = 128 // user ids (a token's sub, a direct's to)
	ReservedKind   = "system"
	// DocKind is the kind of a shared document's updates, reserved for
	// doc_update: a send or a server-API publish may not use it.
	DocKind     = persistence.KindDoc
	DefaultKind = "text"
)
