/* Decoders of the requests cirun sends to the agent, and of the agent's REGISTRY_IMPORTED
 * answer (common/proto.h lists the fields).
 * Each takes one frame's payload and either fills a struct whose every field was checked
 * (digests are "sha256:" + 64 lower-case hex, cluster names follow common/name.h, env keys
 * are shell identifiers, cwd is an absolute path without "..", counts and lengths are
 * bounded before anything is allocated, no trailing bytes) or fails with -EBADMSG/-E2BIG
 * and a message naming the message and the field. They are fuzzed on their own
 * (tests/fuzz/fuzz-agent-msg.c). A decoded struct is released with its _release(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config-apply.h"
#include "error.h"
#include "kv.h"

#define MSG_MAX_LAYERS 4096		   /* per LAYERS_REQ and ASSEMBLE */
#define MSG_MAX_LAYER_SIZE (1ULL << 40)	   /* bytes of one layer blob */
#define MSG_MAX_COMMAND (256u << 10)	   /* bytes of an EXEC command */
#define MSG_MAX_PATH 4096		   /* EXEC cwd */
#define MSG_MAX_ENV 1024		   /* variables per EXEC/SETUP */
#define MSG_MAX_ENV_KEY 256
#define MSG_MAX_ENV_VALUE (64u << 10)
#define MSG_MAX_TIMEOUT_S (7u * 24 * 3600) /* EXEC timeout; 0 = none */
#define MSG_MAX_VERSION 64		   /* HELLO client version */
#define MSG_MAX_CONFIG_NAME 253		   /* CONFIG name (a Kubernetes object name) */
#define MSG_MAX_CONFIG_DATA (960u << 10)   /* CONFIG data: what a frame holds, less the rest */
#define MSG_MAX_ARCHIVE_NAME 255	   /* REGISTRY_IMPORT archive: one file name */
#define MSG_MAX_MIRRORS 64		   /* HOSTS upstream registries */
#define MSG_MAX_KUBEADM_CONFIG (256u << 10) /* KUBEADM_CONFIG data */
#define MSG_MAX_REGISTRY_SOURCES 16	   /* REGISTRY_IMPORTED registry hosts of one archive */
#define MSG_MAX_DETAIL (64u << 10)	   /* REGISTRY_IMPORTED detail */

struct msg_hello {
	uint32_t version;
	char *client;
};

struct msg_layer_ref {
	char *digest;
	uint64_t size;
};

struct msg_layers_req {
	uint32_t n;
	struct msg_layer_ref *layers;
};

struct msg_layer_begin {
	char *digest;
	uint64_t size;
};

/* Points into the payload: valid as long as the frame is. */
struct msg_layer_data {
	const void *data;
	size_t len;
};

struct msg_assemble {
	char *cluster;
	uint32_t n;
	char **digests;
};

struct msg_exec {
	char *command;
	char *cwd; /* "" = the agent's own */
	uint32_t timeout_s;
	uint32_t nenv;
	struct kv *env;
};

struct msg_setup {
	char *cluster;
	uint32_t nenv;
	struct kv *env;
	uint32_t flags; /* PROTO_SETUP_*; absent (0) from older clients */
};

/* A Clusterfile Config document (common/config-apply.h) for the cluster's rootfs: name,
 * file and path printable, path as config_path_check() wants it, a known strategy. */
struct msg_config {
	char *cluster;
	struct config_doc doc;
};

/* An archive of the cluster rootfs's images/ to import into its registry's storage:
 * archive is one plain file name (no '/', not "." or "..", printable), never a path. */
struct msg_registry_import {
	char *cluster;
	char *archive;
};

/* Whether name is a plain file name for REGISTRY_IMPORT's archive. */
bool msg_archive_name_valid(const char *name);

/* The cluster's /etc/hosts block and registry mirror (agent/hosts.h): entries as
 * common/hosts-block.h wants them, mirror "NAME:PORT", upstreams registry hosts
 * (hosts_registry_valid: HOST[:PORT]). */
struct msg_hosts {
	char *cluster;
	uint32_t n;
	struct kv *entries; /* key: IP, value: name */
	char *mirror;
	uint32_t nup;
	char **upstreams;
	uint32_t flags; /* PROTO_HOSTS_* */
};

int msg_hello_decode(const void *p, size_t n, struct msg_hello *ret, struct errbuf *err);
int msg_layers_req_decode(const void *p, size_t n, struct msg_layers_req *ret, struct errbuf *err);
int msg_layer_begin_decode(const void *p, size_t n, struct msg_layer_begin *ret,
			   struct errbuf *err);
int msg_layer_data_decode(const void *p, size_t n, struct msg_layer_data *ret, struct errbuf *err);
int msg_assemble_decode(const void *p, size_t n, struct msg_assemble *ret, struct errbuf *err);
int msg_exec_decode(const void *p, size_t n, struct msg_exec *ret, struct errbuf *err);
int msg_setup_decode(const void *p, size_t n, struct msg_setup *ret, struct errbuf *err);
int msg_config_decode(const void *p, size_t n, struct msg_config *ret, struct errbuf *err);
int msg_registry_import_decode(const void *p, size_t n, struct msg_registry_import *ret,
			       struct errbuf *err);
int msg_hosts_decode(const void *p, size_t n, struct msg_hosts *ret, struct errbuf *err);
/* FACTS_REQ, LAYER_END and BYE carry nothing: any byte is refused. */
int msg_empty_decode(uint8_t type, const void *p, size_t n, struct errbuf *err);

void msg_hello_release(struct msg_hello *m);
void msg_layers_req_release(struct msg_layers_req *m);
void msg_layer_begin_release(struct msg_layer_begin *m);
void msg_assemble_release(struct msg_assemble *m);
void msg_exec_release(struct msg_exec *m);
void msg_setup_release(struct msg_setup *m);
void msg_config_release(struct msg_config *m);
void msg_registry_import_release(struct msg_registry_import *m);
void msg_hosts_release(struct msg_hosts *m);

/* A kubeadm config file for the cluster (installer/kubeadm-config.h): name is
 * kubeadm-NAME.yaml (NAME of [a-z0-9-], 1-32 bytes), a file name and never a path; data is
 * YAML text (no control characters but tab, CR, LF). It holds secrets: the release wipes it. */
struct msg_kubeadm_config {
	char *cluster;
	char *name;
	char *data;
};

bool msg_kubeadm_name_valid(const char *name);
int msg_kubeadm_config_decode(const void *p, size_t n, struct msg_kubeadm_config *ret,
			      struct errbuf *err);
void msg_kubeadm_config_release(struct msg_kubeadm_config *m);

/* The agent's answer to REGISTRY_IMPORT (decoded by cirun): the detail OK would carry,
 * and the registry hosts the archive's images were named under ("registry.k8s.io",
 * "myreg.example:5000"; hosts_registry_valid, each once, at most
 * MSG_MAX_REGISTRY_SOURCES): the hosts whose pulls containerd is to send to the
 * cluster's registry. */
struct msg_registry_imported {
	char *detail;
	uint32_t n;
	char **sources;
};

int msg_registry_imported_decode(const void *p, size_t n, struct msg_registry_imported *ret,
				 struct errbuf *err);
void msg_registry_imported_release(struct msg_registry_imported *m);

/* Whether a cwd is acceptable: empty, or absolute with no "." or ".." component. */
bool msg_cwd_valid(const char *cwd);

/* LOCK: who asks for the host's lock (agent/host-lock.h records it in ROOT/lock). owner
 * is the control machine's host name (msg_lock_host_valid), pid cirun's pid there,
 * command the cirun command ("run", "apply": msg_lock_command_valid). */
#define MSG_MAX_LOCK_HOST 253
#define MSG_MAX_LOCK_COMMAND 32
#define MSG_MAX_LOCK_PID 4194304u /* the kernel's PID_MAX_LIMIT */

struct msg_lock {
	char *cluster;
	char *command;
	char *owner;
	uint32_t pid;
	uint32_t flags; /* PROTO_LOCK_* */
};

/* A host name as gethostname() gives one: 1-253 bytes of [A-Za-z0-9._-]. */
bool msg_lock_host_valid(const char *s);
/* 1-32 bytes of [a-z-]. */
bool msg_lock_command_valid(const char *s);
int msg_lock_decode(const void *p, size_t n, struct msg_lock *ret, struct errbuf *err);
void msg_lock_release(struct msg_lock *m);

/* CLEAN: the cluster to take off the host (a valid cluster name); *ret_cluster to free. */
int msg_clean_decode(const void *p, size_t n, char **ret_cluster, struct errbuf *err);
/* JOURNAL_READ and JOURNAL_APPEND (common/journal.h): the cluster, and for an append one
 * record as journal_line_check() accepts it (no newline, capped at JOURNAL_MAX_LINE). */
struct msg_journal {
	char *cluster;
	char *line; /* NULL for JOURNAL_READ */
};

int msg_journal_read_decode(const void *p, size_t n, struct msg_journal *ret,
			    struct errbuf *err);
int msg_journal_append_decode(const void *p, size_t n, struct msg_journal *ret,
			      struct errbuf *err);
void msg_journal_release(struct msg_journal *m);
