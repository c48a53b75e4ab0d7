// Package configs holds the troupe server configuration: the Config struct, its
// defaults (Default), its validation (Config.Validate) and layered loading (Load).
//
// Config is composed, not copied: it embeds the engine's actors.Config and the
// transport's transport.Config, each declared, defaulted and validated by its
// own package, beside the few settings only the server as a whole uses (store,
// cluster, auth, logging, shutdown). The cluster settings (--node-id,
// --cluster-listen, --cluster-peers, --nats) are in cluster.go with their
// rules; docs/cluster.md describes the cluster. Store URLs are checked with persistence/storeurl,
// so this package links in no store or driver.
//
// Load merges four layers, each overriding the ones before:
//
//	defaults → YAML file (--config PATH) → environment (TROUPE_<NAME>) → command-line flags
//
// Every setting has one name used in all layers: the flag --heartbeat-interval is
// the YAML key heartbeat_interval and the environment variable
// TROUPE_HEARTBEAT_INTERVAL. Durations are written as time.ParseDuration strings
// such as "25s" everywhere. Unknown YAML keys are rejected.
//
// Validation reports every problem at once (errors.Join); each problem names the
// offending flag, so one run shows everything that needs fixing.
//
// troupe.yaml in this directory documents every key with its default.
package configs
