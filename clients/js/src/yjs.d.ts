// Types of @troupe/client/yjs: a Yjs provider on a troupe room's shared
// document. Needs the yjs package (a peer dependency).

import type { Doc } from 'yjs'
import type { TroupeClient } from './index.js'

/** How many updates the provider sees between two snapshots by default (200). */
export declare const DEFAULT_SNAPSHOT_EVERY: number

export interface TroupeYjsProviderOptions {
  /** Upload a snapshot (Y.encodeStateAsUpdate) every this many updates seen, local and remote; 0: never. Default 200. */
  snapshotEvery?: number
}

export interface SyncedEventDetail {
  /** The offset through which the doc now holds every update of the room. */
  offset: number
  /** The offset of the snapshot the sync started from, or null when it had none. */
  snapshot: number | null
  /** How many updates after it the sync applied. */
  updates: number
}

export interface SnapshotEventDetail {
  /** The snapshot offset the server holds now. */
  offset: number
  /** False when the server held one at that offset or later already. */
  stored: boolean
}

export interface ProviderErrorEventDetail {
  /** An update or snapshot the server refused, or a failed sync; the provider goes on. */
  error: Error
}

export interface ProviderClosedEventDetail {
  /** "deleted": the room was deleted through the server API. */
  reason: string
}

export interface TroupeYjsProviderEventMap {
  synced: CustomEvent<SyncedEventDetail>
  snapshot: CustomEvent<SnapshotEventDetail>
  error: CustomEvent<ProviderErrorEventDetail>
  /** The room was deleted: the provider stops syncing (local changes stay unsent). */
  closed: CustomEvent<ProviderClosedEventDetail>
}

/**
 * Keeps a Y.Doc in sync with the document of a troupe room: joins the room
 * (unless the client has), loads the snapshot and the updates after it,
 * sends local changes with docUpdate (queued while offline, sent once after
 * the rejoin), applies the room's `doc` events, syncs again from its offset
 * after every reconnect, joins a room closed under it again (crashed, moved;
 * a deleted room ends the syncing), and uploads a snapshot every
 * snapshotEvery updates.
 */
export declare class TroupeYjsProvider extends EventTarget {
  constructor(client: TroupeClient, room: string, ydoc: Doc, options?: TroupeYjsProviderOptions)
  readonly room: string
  readonly doc: Doc
  /** The doc holds every update of the room up to offset. */
  readonly synced: boolean
  /** The offset through which the doc holds every update of the room. */
  readonly offset: number
  /** Local updates not yet acknowledged by the server. */
  readonly pending: number
  /** Resolves once the first sync is applied; rejects when it failed. */
  whenSynced(): Promise<void>
  /** Resolves once every local update made so far is acknowledged (at once after destroy or a deleted room). */
  flushed(): Promise<void>
  /** Uploads a snapshot at offset now; null when not synced or nothing new since the last one. */
  snapshot(): Promise<SnapshotEventDetail | null>
  /** Stops syncing; leaves the room when the provider joined it. */
  destroy(): void

  addEventListener<K extends keyof TroupeYjsProviderEventMap>(
    type: K,
    listener: (this: TroupeYjsProvider, ev: TroupeYjsProviderEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void
  removeEventListener<K extends keyof TroupeYjsProviderEventMap>(
    type: K,
    listener: (this: TroupeYjsProvider, ev: TroupeYjsProviderEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void
}
